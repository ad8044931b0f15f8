<?php
// The Mega-Wechat wire format, as the original PHP classes (Network\PushCommand,
// SendCommand, SetTableCommand, BooleanCommand) wrote it; all integers are big-endian u32:
//   request = packLength headerLength header opaque [bodyLength body]
//   reply   = packLength headerLength "result CODE" opaque msgLength msg

declare(strict_types=1);

namespace Mega\Protocol;

final class Frame
{
    /** mega's default package_max_length: the largest frame either side accepts. */
    public const DEFAULT_MAX_BYTES = 2465792;

    /**
     * A push or send request. $options are the extension words ("priority=high"), appended
     * to the header after a space; $body is the JSON text ("null" when there is no data).
     */
    public static function request(string $command, string $openid, string $key, int $opaque, string $body, string $options = ''): string
    {
        $header = "{$command} {$openid} {$key}" . ($options === '' ? '' : " {$options}");
        return self::frame($header, $opaque, $body);
    }

    /** A tset request: reload the template $key from MySQL. */
    public static function tset(string $key, int $opaque): string
    {
        return self::frame("tset {$key}", $opaque, null);
    }

    /** A reply frame (what mega sends; used by tests and stand-in servers). */
    public static function result(int $code, int $opaque, string $message): string
    {
        return self::frame("result {$code}", $opaque, $message);
    }

    private static function frame(string $header, int $opaque, ?string $tail): string
    {
        $payload = pack('N', strlen($header)) . $header . pack('N', $opaque & 0xFFFFFFFF);
        if ($tail !== null) {
            $payload .= pack('N', strlen($tail)) . $tail;
        }
        return pack('N', strlen($payload)) . $payload;
    }
}
