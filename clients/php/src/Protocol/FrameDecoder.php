<?php
// A streaming decoder of mega's reply frames: feed it bytes as they arrive, take complete
// Replies out. A length word larger than the frame limit or a frame that is not a well-formed
// `result CODE` throws ProtocolException at once, before its bytes are buffered.

declare(strict_types=1);

namespace Mega\Protocol;

use Mega\Exception\ProtocolException;

final class FrameDecoder
{
    private string $buffer = '';

    public function __construct(private int $maxFrameBytes = Frame::DEFAULT_MAX_BYTES)
    {
    }

    public function feed(string $bytes): void
    {
        $this->buffer .= $bytes;
    }

    /** Bytes of an incomplete frame waiting for the rest. */
    public function buffered(): int
    {
        return strlen($this->buffer);
    }

    /** The next complete reply, or null if more bytes are needed. */
    public function next(): ?Reply
    {
        if (strlen($this->buffer) < 4) {
            return null;
        }
        $pack = unpack('N', $this->buffer)[1];
        if ($pack + 4 > $this->maxFrameBytes) {
            throw new ProtocolException("reply frame of {$pack} bytes exceeds the limit of {$this->maxFrameBytes}");
        }
        if (strlen($this->buffer) < $pack + 4) {
            return null;
        }
        $frame = substr($this->buffer, 4, $pack);
        $this->buffer = (string) substr($this->buffer, $pack + 4);
        return self::decode($frame);
    }

    private static function decode(string $frame): Reply
    {
        $size = strlen($frame);
        if ($size < 12) {
            throw new ProtocolException('reply frame too short: ' . bin2hex($frame));
        }
        $hlen = unpack('N', $frame)[1];
        if ($hlen > $size - 12) {
            throw new ProtocolException("reply header length {$hlen} does not fit its frame of {$size} bytes");
        }
        $header = substr($frame, 4, $hlen);
        ['o' => $opaque, 'm' => $mlen] = unpack('No/Nm', $frame, 4 + $hlen);
        if ($mlen !== $size - 12 - $hlen) {
            throw new ProtocolException("reply message length {$mlen} does not match its frame of {$size} bytes");
        }
        if (!preg_match('/^result ([0-9]{1,9})$/', $header, $m)) {
            throw new ProtocolException("not a reply frame: header '{$header}'");
        }
        return new Reply((int) $m[1], (string) substr($frame, 12 + $hlen), $opaque);
    }
}
