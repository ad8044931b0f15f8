<?php
// Message: the extension words in protocol order, and every bad value refused before
// anything is sent, with the limits of protocol/README.md.

declare(strict_types=1);

namespace Mega\Tests\Unit;

use Mega\Exception\InvalidMessageException;
use Mega\Message;
use PHPUnit\Framework\TestCase;

final class MessageTest extends TestCase
{
    public function testOptionsBecomeHeaderWordsInProtocolOrder(): void
    {
        $m = Message::make('order_paid', 'oX', ['a' => 1])->source('shop')->tries(5)->msgkey('order-1881')->delay(30)->priority('high');
        $this->assertSame('priority=high delay=30 msgkey=order-1881 tries=5 source=shop', $m->headerWords());
        $this->assertSame('', Message::make('k', 'o')->headerWords());
    }

    public function testFromArrayTakesTheOptions(): void
    {
        $m = Message::fromArray(['key' => 'k', 'openid' => 'o', 'data' => ['x' => 'y'], 'at' => 1700000000, 'priority' => 'low']);
        $this->assertSame(['priority' => 'low', 'at' => 1700000000], $m->options());
        $this->assertSame('{"x":"y"}', $m->body());
    }

    public function testHttpBodyHasAnObjectForData(): void
    {
        $this->assertSame('{"key":"k","openid":"o","data":{},"tries":2}', json_encode(Message::make('k', 'o', [])->tries(2)->toHttpArray()));
    }

    public function badValues(): array
    {
        return [
            'priority' => [fn () => Message::make('k', 'o')->priority('urgent')],
            'negative delay' => [fn () => Message::make('k', 'o')->delay(-1)],
            'delay too long' => [fn () => Message::make('k', 'o')->delay(Message::MAX_DELAY + 1)],
            'tries 0' => [fn () => Message::make('k', 'o')->tries(0)],
            'tries 101' => [fn () => Message::make('k', 'o')->tries(101)],
            'msgkey with space' => [fn () => Message::make('k', 'o')->msgkey('a b')],
            'msgkey with quote' => [fn () => Message::make('k', 'o')->msgkey('a"b')],
            'msgkey too long' => [fn () => Message::make('k', 'o')->msgkey(str_repeat('x', 129))],
            'source not UTF-8' => [fn () => Message::make('k', 'o')->source("\xff")],
            'openid with space' => [fn () => Message::make('k', 'o x')],
            'openid too long' => [fn () => Message::make('k', str_repeat('o', 129))],
            'key with space' => [fn () => Message::make('a b', 'o')],
            'unknown field' => [fn () => Message::fromArray(['key' => 'k', 'colour' => 'red'])],
            'data not JSON' => [fn () => Message::make('k', 'o', ["\xff"])->body()],
            'no openid for HTTP' => [fn () => Message::make('k')->toHttpArray()],
        ];
    }

    /** @dataProvider badValues */
    public function testBadValuesAreRefused(\Closure $make): void
    {
        $this->expectException(InvalidMessageException::class);
        $make();
    }
}
