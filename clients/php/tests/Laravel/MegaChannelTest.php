<?php
// MegaChannel::send with Laravel's notification contracts (stand-ins in tests/Stubs): the
// toMega() array or Message, the openid from the notifiable's route when toMega() has none,
// nothing sent without one, config defaults, and the notification id as msgkey.

declare(strict_types=1);

namespace Mega\Tests\Laravel;

use Illuminate\Notifications\AnonymousNotifiable;
use Illuminate\Notifications\Notification;
use Mega\Exception\InvalidMessageException;
use Mega\Laravel\MegaChannel;
use Mega\Message;
use PHPUnit\Framework\TestCase;

final class MegaChannelTest extends TestCase
{
    public function testToMegaArrayIsSent(): void
    {
        $sender = new RecordingSender();
        $notification = new OrderPaid('tea', 'oFromToMega', ['priority' => 'high']);
        $notification->id = '5b0f4d0e-4a8e-4a51-9d3c-2c3f1b9f7a10';
        $reply = (new MegaChannel($sender))->send(new Customer('oFromRoute'), $notification);
        $this->assertTrue($reply->ok());
        [$m] = $sender->messages;
        $this->assertSame(['order_paid', 'oFromToMega', ['product' => 'tea', 'price' => '9.9']], [$m->key(), $m->openid(), $m->data()]);
        $this->assertSame(['priority' => 'high', 'msgkey' => '5b0f4d0e-4a8e-4a51-9d3c-2c3f1b9f7a10'], $m->options());
    }

    public function testOpenidFromTheNotifiablesRoute(): void
    {
        $sender = new RecordingSender();
        $channel = new MegaChannel($sender, ['msgkey_from_notification_id' => false]);
        $channel->send(new Customer('oModel'), new OrderPaid('tea'));
        $channel->send((new AnonymousNotifiable())->route('mega', 'oAnonymous'), new OrderPaid('tea'));
        $this->assertSame(['oModel', 'oAnonymous'], array_map(fn (Message $m) => $m->openid(), $sender->messages));
        $this->assertSame([], $sender->messages[0]->options());
    }

    public function testNoOpenidNoMessage(): void
    {
        $sender = new RecordingSender();
        $this->assertNull((new MegaChannel($sender))->send(new Customer(null), new OrderPaid('tea')));
        $this->assertSame([], $sender->messages);
    }

    public function testDefaultsFromConfigUnlessTheMessageSetsThem(): void
    {
        $sender = new RecordingSender();
        $config = ['defaults' => ['priority' => 'low', 'tries' => '5', 'source' => 'shop'], 'msgkey_from_notification_id' => true];
        $notification = new class () extends Notification {
            public function toMega($notifiable): Message
            {
                return Message::make('order_paid', 'oDefaults')->priority('high')->msgkey('mine');
            }
        };
        $notification->id = 'not-used';
        (new MegaChannel($sender, $config))->send(new Customer(null), $notification);
        $this->assertSame(['priority' => 'high', 'msgkey' => 'mine', 'tries' => 5, 'source' => 'shop'], $sender->messages[0]->options());
    }

    public function testNotificationWithoutToMega(): void
    {
        $this->expectException(\LogicException::class);
        $this->expectExceptionMessage('has no toMega');
        (new MegaChannel(new RecordingSender()))->send(new Customer('o'), new Notification());
    }

    public function testToMegaReturningSomethingElse(): void
    {
        $notification = new class () extends Notification {
            public function toMega($notifiable): string
            {
                return 'order_paid';
            }
        };
        $this->expectException(InvalidMessageException::class);
        (new MegaChannel(new RecordingSender()))->send(new Customer('o'), $notification);
    }
}
