<?php
// What the Laravel channel (and any code that should not care about the transport) needs:
// hand mega one message. Tcp\Client answers with a Protocol\Reply, Http\HttpClient with an
// Http\Submitted; both throw a MegaException when the message was not taken.

declare(strict_types=1);

namespace Mega;

interface Sender
{
    /** Queues $message (which must have an openid) for delivery. */
    public function submit(Message $message): object;
}
