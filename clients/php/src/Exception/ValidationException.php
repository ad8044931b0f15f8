<?php
// HTTP 422: a batch was refused; getErrors() lists each message's problem.

declare(strict_types=1);

namespace Mega\Exception;

class ValidationException extends HttpException
{
}
