<?php
// The one type every exception of this package implements: catch (MegaException $e) covers
// transport failures, server refusals and invalid input alike.

declare(strict_types=1);

namespace Mega\Exception;

interface MegaException extends \Throwable
{
}
