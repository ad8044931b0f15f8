<?php
// HTTP 401: the Authorization header is missing or names no key.

declare(strict_types=1);

namespace Mega\Exception;

class AuthenticationException extends HttpException
{
}
