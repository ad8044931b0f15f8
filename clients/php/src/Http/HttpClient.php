<?php
// The client of mega's HTTP submit API (POST/GET/DELETE /v1/messages) over ext-curl. One
// curl handle is kept, so requests reuse the keep-alive connection. Answers become
// Submitted / MessageStatus objects; error answers throw the HttpException subclass of
// their status, transport failures ConnectionException / TimeoutException. The API key is
// sent as a bearer token and never appears in an exception message.

declare(strict_types=1);

namespace Mega\Http;

use Mega\Exception\ConnectionException;
use Mega\Exception\HttpException;
use Mega\Exception\InvalidMessageException;
use Mega\Exception\ProtocolException;
use Mega\Exception\TimeoutException;
use Mega\Message;
use Mega\Sender;

final class HttpClient implements Sender
{
    private const DEFAULTS = [
        'timeout' => 30.0,          // seconds for a whole request (a wait adds its own)
        'connect_timeout' => 5.0,   // seconds to connect
    ];

    private string $baseUrl;
    private array $options;
    /** @var \CurlHandle|null */
    private $curl = null;
    private int $connectionsOpened = 0;

    /**
     * @param string $baseUrl e.g. "http://127.0.0.1:9503" (mega's [http] listen address)
     * @param string $key     the secret of one of mega's [http] keys
     */
    public function __construct(string $baseUrl, private string $key, array $options = [])
    {
        if (!extension_loaded('curl')) {
            throw new \LogicException('Mega\Http\HttpClient needs the curl extension (Debian: php-curl)');
        }
        if (!preg_match('~^https?://[^/]+~', $baseUrl)) {
            throw new \InvalidArgumentException("base URL '{$baseUrl}' must start with http:// or https://");
        }
        $unknown = array_diff_key($options, self::DEFAULTS);
        if ($unknown) {
            throw new \InvalidArgumentException('unknown option(s): ' . implode(', ', array_keys($unknown)));
        }
        $this->baseUrl = rtrim($baseUrl, '/');
        $this->options = $options + self::DEFAULTS;
    }

    public function __destruct()
    {
        $this->close();
    }

    /** Drops the kept connection. */
    public function close(): void
    {
        if ($this->curl !== null) {
            curl_close($this->curl);
            $this->curl = null;
        }
    }

    /** Connections opened so far (1 after many requests: the connection was kept alive). */
    public function connectionsOpened(): int
    {
        return $this->connectionsOpened;
    }

    /** Queues one message (its msgkey, if any, also goes as Idempotency-Key). */
    public function submit(Message $message): Submitted
    {
        $headers = $message->getMsgkey() !== null ? ['Idempotency-Key: ' . $message->getMsgkey()] : [];
        return Submitted::fromArray($this->request('POST', '/v1/messages', $message->toHttpArray(), $headers)[1]);
    }

    /**
     * Queues many messages in one request (at most mega's [http] max_batch). All or none:
     * a refused batch throws ValidationException listing each bad message by index.
     *
     * @param iterable<Message> $messages
     * @return list<Submitted> in the order given
     */
    public function submitBatch(iterable $messages): array
    {
        $body = [];
        foreach ($messages as $message) {
            $body[] = $message->toHttpArray();
        }
        if ($body === []) {
            return [];
        }
        $reply = $this->request('POST', '/v1/messages', $body)[1];
        if (!isset($reply['messages']) || !is_array($reply['messages']) || count($reply['messages']) !== count($body)) {
            throw new ProtocolException('mega answered a batch of ' . count($body) . ' without one result per message');
        }
        return array_map(fn ($r) => Submitted::fromArray((array) $r), array_values($reply['messages']));
    }

    /**
     * Queues one message and waits up to $seconds for its outcome: a sent or failed
     * MessageStatus, or status "queued" if the wait ended first.
     */
    public function submitAndWait(Message $message, int $seconds): MessageStatus
    {
        if ($seconds < 1) {
            throw new InvalidMessageException("wait must be at least 1 second, not {$seconds}");
        }
        $headers = $message->getMsgkey() !== null ? ['Idempotency-Key: ' . $message->getMsgkey()] : [];
        [, $reply] = $this->request('POST', "/v1/messages?wait={$seconds}", $message->toHttpArray(), $headers, $seconds);
        return MessageStatus::fromArray($reply);
    }

    /** The status of message $id; NotFoundException if mega does not know it. */
    public function status(string $id): MessageStatus
    {
        return MessageStatus::fromArray($this->request('GET', '/v1/messages/' . rawurlencode($id))[1]);
    }

    /** The status of the message submitted with $msgkey. */
    public function statusByMsgkey(string $msgkey): MessageStatus
    {
        return MessageStatus::fromArray($this->request('GET', '/v1/messages?msgkey=' . rawurlencode($msgkey))[1]);
    }

    /** Cancels a message that is not sent yet; ConflictException if it can no longer be. */
    public function cancel(string $id): MessageStatus
    {
        return MessageStatus::fromArray($this->request('DELETE', '/v1/messages/' . rawurlencode($id))[1]);
    }

    /** @return array{0:int,1:array} the status and the decoded JSON object */
    private function request(string $method, string $path, ?array $body = null, array $headers = [], int $wait = 0): array
    {
        $curl = $this->handle();
        $headers[] = 'Authorization: Bearer ' . $this->key;
        $headers[] = 'Accept: application/json';
        $headers[] = 'Expect:';  // no 100-continue round trip for larger bodies
        $options = [
            CURLOPT_URL => $this->baseUrl . $path,
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_CONNECTTIMEOUT_MS => (int) ($this->options['connect_timeout'] * 1000),
            CURLOPT_TIMEOUT_MS => (int) (($this->options['timeout'] + $wait) * 1000),
            CURLOPT_NOSIGNAL => true,
        ];
        if ($body !== null) {
            try {
                $options[CURLOPT_POSTFIELDS] = json_encode($body, JSON_THROW_ON_ERROR | JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES);
            } catch (\JsonException $e) {
                throw new InvalidMessageException('message cannot be encoded as JSON: ' . $e->getMessage(), 0, $e);
            }
            $headers[] = 'Content-Type: application/json';
        }
        $options[CURLOPT_HTTPHEADER] = $headers;
        curl_setopt_array($curl, $options);
        $text = curl_exec($curl);
        $this->connectionsOpened += (int) curl_getinfo($curl, CURLINFO_NUM_CONNECTS);
        if ($text === false) {
            $errno = curl_errno($curl);
            $why = "{$method} {$this->baseUrl}{$path}: " . curl_error($curl);
            $this->close();
            throw $errno === CURLE_OPERATION_TIMEDOUT ? new TimeoutException($why) : new ConnectionException($why);
        }
        $status = (int) curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
        $decoded = json_decode((string) $text, true);
        if ($status < 200 || $status > 299) {
            throw self::error($status, (string) $text, $decoded);
        }
        if (!is_array($decoded)) {
            throw new ProtocolException("{$method} {$path}: mega answered {$status} with a body that is not a JSON object");
        }
        return [$status, $decoded];
    }

    private static function error(int $status, string $text, mixed $decoded): HttpException
    {
        $error = is_array($decoded) && is_array($decoded['error'] ?? null) ? $decoded['error'] : [];
        $code = is_string($error['code'] ?? null) ? $error['code'] : "http_{$status}";
        $message = is_string($error['message'] ?? null) ? $error['message'] : trim(substr($text, 0, 200));
        $errors = [];
        foreach ((array) ($error['errors'] ?? []) as $e) {
            if (is_array($e)) {
                $errors[] = ['index' => (int) ($e['index'] ?? -1), 'message' => (string) ($e['message'] ?? '')];
            }
        }
        return HttpException::forStatus($status, $code, $message, $errors, $text);
    }

    private function handle()
    {
        if ($this->curl === null) {
            $this->curl = curl_init();
        } else {
            curl_reset($this->curl);  // options go; the kept connection stays
        }
        return $this->curl;
    }
}
