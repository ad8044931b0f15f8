<?php
// mega's HTTP answer to one submitted message: the id it was queued under, or, for a
// msgkey seen before, duplicate = true and no id.

declare(strict_types=1);

namespace Mega\Http;

use Mega\Exception\ProtocolException;

final class Submitted
{
    public function __construct(public readonly ?string $id, public readonly bool $duplicate)
    {
    }

    public static function fromArray(array $reply): self
    {
        $id = $reply['id'] ?? null;
        if (!is_string($id) && $id !== null) {
            throw new ProtocolException('mega answered a submission with an id that is not a string: ' . json_encode($reply));
        }
        return new self($id, (bool) ($reply['duplicate'] ?? false));
    }
}
