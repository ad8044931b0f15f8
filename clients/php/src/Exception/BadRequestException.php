<?php
// HTTP 400: the request is malformed (not JSON, a bad field).

declare(strict_types=1);

namespace Mega\Exception;

class BadRequestException extends HttpException
{
}
