<?php
// Monotonic seconds (hrtime), for deadlines that a change of the wall clock cannot move.

declare(strict_types=1);

namespace Mega\Tcp;

final class Clock
{
    public static function now(): float
    {
        return hrtime(true) / 1e9;
    }
}
