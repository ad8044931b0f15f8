<?php
// A connect, write or reply took longer than its timeout. The TCP client closes the
// connection (a late reply cannot be confused with the next one); the next call reconnects.

declare(strict_types=1);

namespace Mega\Exception;

class TimeoutException extends ConnectionException
{
}
