<?php
// Where one message stands, as mega's HTTP API reports it (GET /v1/messages/ID, a waited
// submission, a cancel): queued, waiting, sending, retrying, sent, failed or cancelled, with
// the attempts so far, WeChat's error of the last one and the msgid WeChat gave a sent one.

declare(strict_types=1);

namespace Mega\Http;

use Mega\Exception\ProtocolException;

final class MessageStatus
{
    public const FINAL = ['sent', 'failed', 'cancelled'];

    public function __construct(
        public readonly string $id,
        public readonly string $status,
        public readonly int $attempts = 0,
        public readonly ?int $errcode = null,
        public readonly ?string $error = null,
        public readonly ?int $msgid = null
    ) {
    }

    public static function fromArray(array $reply): self
    {
        if (!is_string($reply['id'] ?? null) || !is_string($reply['status'] ?? null)) {
            throw new ProtocolException('mega answered without a message id and status: ' . json_encode($reply));
        }
        $int = fn (string $k) => isset($reply[$k]) && is_numeric($reply[$k]) ? (int) $reply[$k] : null;
        return new self(
            $reply['id'],
            $reply['status'],
            $int('attempts') ?? 0,
            $int('errcode'),
            isset($reply['error']) && is_string($reply['error']) && $reply['error'] !== '' ? $reply['error'] : null,
            $int('msgid')
        );
    }

    public function isSent(): bool
    {
        return $this->status === 'sent';
    }

    public function isFailed(): bool
    {
        return $this->status === 'failed';
    }

    /** sent, failed or cancelled: the status will not change any more. */
    public function isFinal(): bool
    {
        return in_array($this->status, self::FINAL, true);
    }
}
