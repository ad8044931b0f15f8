<?php
// HTTP 413: the body or the batch is larger than the server accepts.

declare(strict_types=1);

namespace Mega\Exception;

class PayloadTooLargeException extends HttpException
{
}
