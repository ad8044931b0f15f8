<?php
// HTTP 409: the message can no longer be cancelled (already sent, failed…).

declare(strict_types=1);

namespace Mega\Exception;

class ConflictException extends HttpException
{
}
