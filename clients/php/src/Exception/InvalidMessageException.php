<?php
// A message the client refuses before sending it: a bad option value, an openid or key with
// a space, data that json_encode cannot encode. Nothing was sent.

declare(strict_types=1);

namespace Mega\Exception;

class InvalidMessageException extends \InvalidArgumentException implements MegaException
{
}
