<?php
// mega's answer to one TCP request: a `result CODE` frame with its message and the opaque
// of the request it answers. In a pipelined batch, a request whose reply never came has
// code 0 and the transport failure in $error.

declare(strict_types=1);

namespace Mega\Protocol;

final class Reply
{
    public function __construct(
        public readonly int $code,
        public readonly string $message,
        public readonly int $opaque,
        public readonly ?\Throwable $error = null
    ) {
    }

    /** 200: queued (push), delivered (send), reloaded (tset), or a duplicate msgkey. */
    public function ok(): bool
    {
        return $this->code === 200;
    }

    /** A msgkey mega has already seen: nothing was queued. */
    public function isDuplicate(): bool
    {
        return $this->code === 200 && $this->message === 'duplicate';
    }

    /** WeChat's JSON of a failed `send` (errcode, errmsg, openid), else null. */
    public function wechatError(): ?array
    {
        if ($this->code !== 400 || ($this->message[0] ?? '') !== '{') {
            return null;
        }
        $decoded = json_decode($this->message, true);
        return is_array($decoded) && isset($decoded['errcode']) ? $decoded : null;
    }
}
