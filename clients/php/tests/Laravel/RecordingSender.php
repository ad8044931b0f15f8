<?php
// A Sender that keeps what it is handed (the channel tests' stand-in for mega).

declare(strict_types=1);

namespace Mega\Tests\Laravel;

use Mega\Message;
use Mega\Protocol\Reply;
use Mega\Sender;

final class RecordingSender implements Sender
{
    /** @var list<Message> */
    public array $messages = [];

    public function submit(Message $message): object
    {
        $this->messages[] = $message;
        return new Reply(200, '', count($this->messages));
    }
}
