<?php
// A pipelined batch: requests are collected, then run() writes them on one connection (at
// most the client's `window` in flight) and returns one Reply per request, in the order
// they were added, whatever order mega answered in. Replies that are not 200 are returned,
// not thrown; a reply lost with the connection has code 0 and the error.

declare(strict_types=1);

namespace Mega\Tcp;

use Mega\Message;
use Mega\Protocol\Reply;

final class Batch implements \Countable
{
    /** @var list<array{0:string,1:?Message,2:string}> */
    private array $requests = [];

    public function __construct(private Client $client)
    {
    }

    /** Adds a push or send of $message; returns its index in run()'s result. */
    public function add(string $command, Message $message): int
    {
        if ($command !== 'push' && $command !== 'send') {
            throw new \InvalidArgumentException("a batch takes push and send messages, not '{$command}'");
        }
        if ($message->openid() === null) {
            throw new \Mega\Exception\InvalidMessageException("{$command} of '{$message->key()}' needs an openid");
        }
        $this->requests[] = [$command, $message, $message->key()];
        return count($this->requests) - 1;
    }

    public function push(string $openid, string $key, array|object|null $data = null, array $options = []): int
    {
        return $this->add('push', Message::fromArray(['key' => $key, 'openid' => $openid, 'data' => $data] + $options));
    }

    public function send(string $openid, string $key, array|object|null $data = null, array $options = []): int
    {
        return $this->add('send', Message::fromArray(['key' => $key, 'openid' => $openid, 'data' => $data] + $options));
    }

    public function tset(string $key): int
    {
        Message::checkWord('template key', $key);
        $this->requests[] = ['tset', null, $key];
        return count($this->requests) - 1;
    }

    public function count(): int
    {
        return count($this->requests);
    }

    /**
     * Runs the batch and empties it.
     *
     * @return list<Reply>
     */
    public function run(): array
    {
        $requests = $this->requests;
        $this->requests = [];
        return $requests === [] ? [] : $this->client->runPipelined($requests);
    }
}
