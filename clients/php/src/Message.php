<?php
// One template message: the template key, the recipient's openid, the data that fills the
// template, and mega's optional extension words (priority, delay, at, msgkey, tries, source).
// The TCP and the HTTP client both take it; values are checked here, before anything is sent,
// with the limits of mega's protocol (protocol/README.md).

declare(strict_types=1);

namespace Mega;

use Mega\Exception\InvalidMessageException;

final class Message
{
    public const PRIORITIES = ['high', 'normal', 'low'];
    public const MAX_DELAY = 31622400;

    private ?string $priority = null;
    private ?int $delay = null;
    private ?int $at = null;
    private ?string $msgkey = null;
    private ?int $tries = null;
    private ?string $source = null;

    /** @param array|object|null $data what the template's ${name} placeholders are filled from */
    public function __construct(
        private string $key,
        private ?string $openid = null,
        private array|object|null $data = null
    ) {
        self::checkWord('template key', $key);
        if ($openid !== null) {
            self::checkOpenid($openid);
        }
    }

    public static function make(string $key, ?string $openid = null, array|object|null $data = null): self
    {
        return new self($key, $openid, $data);
    }

    /**
     * From an array with the keys key, openid, data and any of the options (what a Laravel
     * notification's toMega() may return).
     */
    public static function fromArray(array $fields): self
    {
        $unknown = array_diff(array_keys($fields), ['key', 'openid', 'data', 'priority', 'delay', 'at', 'msgkey', 'tries', 'source']);
        if ($unknown) {
            throw new InvalidMessageException('unknown message field(s): ' . implode(', ', $unknown));
        }
        if (!isset($fields['key']) || !is_string($fields['key'])) {
            throw new InvalidMessageException('a message needs a string "key" (the template key)');
        }
        $data = $fields['data'] ?? null;
        if (!is_array($data) && !is_object($data) && $data !== null) {
            throw new InvalidMessageException('"data" must be an array or an object');
        }
        $m = new self($fields['key'], isset($fields['openid']) ? (string) $fields['openid'] : null, $data);
        foreach (['priority', 'delay', 'at', 'msgkey', 'tries', 'source'] as $name) {
            if (isset($fields[$name])) {
                $m = $m->{$name}($fields[$name]);
            }
        }
        return $m;
    }

    /** A copy addressed to $openid. */
    public function to(string $openid): self
    {
        self::checkOpenid($openid);
        $m = clone $this;
        $m->openid = $openid;
        return $m;
    }

    public function withData(array|object|null $data): self
    {
        $m = clone $this;
        $m->data = $data;
        return $m;
    }

    /** high, normal (mega's default) or low. */
    public function priority(string $priority): self
    {
        if (!in_array($priority, self::PRIORITIES, true)) {
            throw new InvalidMessageException("priority must be high, normal or low, not '{$priority}'");
        }
        return $this->with('priority', $priority);
    }

    /** Send no earlier than this many seconds from now (0 to 31,622,400). */
    public function delay(int $seconds): self
    {
        if ($seconds < 0 || $seconds > self::MAX_DELAY) {
            throw new InvalidMessageException('delay must be 0 to ' . self::MAX_DELAY . " seconds, not {$seconds}");
        }
        return $this->with('delay', $seconds);
    }

    /** Send no earlier than this unix time (seconds; a past time means now). */
    public function at(int|\DateTimeInterface $when): self
    {
        $ts = $when instanceof \DateTimeInterface ? $when->getTimestamp() : $when;
        if ($ts < 0) {
            throw new InvalidMessageException("at must be a unix time, not {$ts}");
        }
        return $this->with('at', $ts);
    }

    /** Idempotency key: mega drops a second message with the same key (1 to 128 bytes). */
    public function msgkey(string $msgkey): self
    {
        self::checkTag('msgkey', $msgkey, 128);
        return $this->with('msgkey', $msgkey);
    }

    /** Attempts in all for transient failures (1 to 100). */
    public function tries(int $tries): self
    {
        if ($tries < 1 || $tries > 100) {
            throw new InvalidMessageException("tries must be 1 to 100, not {$tries}");
        }
        return $this->with('tries', $tries);
    }

    /** A tag stored with the message: which business line sent it (1 to 64 bytes). */
    public function source(string $source): self
    {
        self::checkTag('source', $source, 64);
        return $this->with('source', $source);
    }

    public function key(): string
    {
        return $this->key;
    }

    public function openid(): ?string
    {
        return $this->openid;
    }

    public function data(): array|object|null
    {
        return $this->data;
    }

    public function getMsgkey(): ?string
    {
        return $this->msgkey;
    }

    /** The options that are set, in protocol order: ['priority' => 'high', 'delay' => 30, …]. */
    public function options(): array
    {
        $out = [];
        foreach (['priority', 'delay', 'at', 'msgkey', 'tries', 'source'] as $name) {
            if ($this->{$name} !== null) {
                $out[$name] = $this->{$name};
            }
        }
        return $out;
    }

    /** The options as the words a TCP header carries ("priority=high msgkey=x"). */
    public function headerWords(): string
    {
        $words = [];
        foreach ($this->options() as $name => $value) {
            $words[] = "{$name}={$value}";
        }
        return implode(' ', $words);
    }

    /** The data as the TCP body: json_encode with PHP's default flags, as the original client sent it. */
    public function body(): string
    {
        try {
            return json_encode($this->data, JSON_THROW_ON_ERROR);
        } catch (\JsonException $e) {
            throw new InvalidMessageException('message data cannot be encoded as JSON: ' . $e->getMessage(), 0, $e);
        }
    }

    /** The message as the HTTP API's JSON object (data always an object). */
    public function toHttpArray(): array
    {
        if ($this->openid === null) {
            throw new InvalidMessageException("message '{$this->key}' has no openid");
        }
        $out = ['key' => $this->key, 'openid' => $this->openid];
        if ($this->data !== null) {
            $out['data'] = is_array($this->data) && $this->data === [] ? new \stdClass() : $this->data;
        }
        return $out + $this->options();
    }

    private function with(string $name, int|string $value): self
    {
        $m = clone $this;
        $m->{$name} = $value;
        return $m;
    }

    /** A header word: not empty, no space or control character. */
    public static function checkWord(string $what, string $word): void
    {
        if ($word === '' || preg_match('/[\x00-\x20\x7f]/', $word)) {
            throw new InvalidMessageException("{$what} '{$word}' must be one word without spaces or control characters");
        }
    }

    /** An openid as mega accepts it: 1 to 128 bytes of printable ASCII without space. */
    public static function checkOpenid(string $openid): void
    {
        if ($openid === '' || strlen($openid) > 128 || preg_match('/[^\x21-\x7e]/', $openid)) {
            throw new InvalidMessageException("openid '{$openid}' must be 1 to 128 printable ASCII characters without spaces");
        }
    }

    private static function checkTag(string $name, string $value, int $max): void
    {
        if ($value === '' || strlen($value) > $max || preg_match('//u', $value) !== 1
            || preg_match('/[\x00-\x20\x7f"\\\\]/', $value)) {
            throw new InvalidMessageException("{$name} must be 1 to {$max} bytes of UTF-8 without space, control character, '\"' or '\\'");
        }
    }
}
