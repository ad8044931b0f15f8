<?php
// HTTP 429: the queue is full; nothing was queued, try again later.

declare(strict_types=1);

namespace Mega\Exception;

class QueueFullException extends HttpException
{
}
