<?php
// HTTP 404: no message with that id or msgkey.

declare(strict_types=1);

namespace Mega\Exception;

class NotFoundException extends HttpException
{
}
