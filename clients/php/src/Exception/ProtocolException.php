<?php
// mega's reply could not be decoded (a wrong length word, a frame that is not `result`, one
// larger than the frame limit). The connection is closed.

declare(strict_types=1);

namespace Mega\Exception;

class ProtocolException extends ConnectionException
{
}
