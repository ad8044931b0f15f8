<?php
// HTTP 503: mega cannot take messages now (disk full, shutting down).

declare(strict_types=1);

namespace Mega\Exception;

class UnavailableException extends HttpException
{
}
