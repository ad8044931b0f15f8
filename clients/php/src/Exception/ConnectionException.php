<?php
// The transport failed: mega could not be reached, closed the connection, or answered
// bytes that are not a reply. Whether a request already sent was queued is unknown (send it
// again with the same msgkey to be safe: mega drops the duplicate).

declare(strict_types=1);

namespace Mega\Exception;

class ConnectionException extends \RuntimeException implements MegaException
{
}
