<?php
// Byte-for-byte agreement with the original PHP protocol classes. tests/golden/ holds frames
// that the original Mega-Wechat client (libs/Network/PushCommand, SendCommand,
// SetTableCommand, BooleanCommand) encoded; those classes are not in this repository, so
// these files are the honest stand-in for running them: each request is encoded again here
// from the same inputs (manifest.json), through the same path the client uses (Message::body
// for the JSON, Frame for the frame), and must equal the original's bytes; each reply must
// decode to the manifest's code, message and opaque.

declare(strict_types=1);

namespace Mega\Tests\Unit;

use Mega\Message;
use Mega\Protocol\Frame;
use Mega\Protocol\FrameDecoder;
use PHPUnit\Framework\TestCase;

final class GoldenFramesTest extends TestCase
{
    public static function goldenDir(): string
    {
        return dirname(__DIR__, 4) . '/tests/golden';
    }

    /** @return array<string,array{0:array}> manifest entries of one kind */
    private static function entries(string $classSuffix): array
    {
        $manifest = json_decode(file_get_contents(self::goldenDir() . '/manifest.json'), true, 512, JSON_THROW_ON_ERROR);
        $out = [];
        foreach ($manifest as $name => $entry) {
            if (str_ends_with($entry['class'], $classSuffix)) {
                $out[$name] = [$entry];
            }
        }
        return $out;
    }

    public function requestProvider(): array
    {
        return self::entries('PushCommand') + self::entries('SendCommand') + self::entries('SetTableCommand');
    }

    public function replyProvider(): array
    {
        return self::entries('BooleanCommand');
    }

    /** @dataProvider requestProvider */
    public function testRequestMatchesTheOriginalByteForByte(array $entry): void
    {
        $golden = file_get_contents(self::goldenDir() . '/' . $entry['file']);
        $this->assertSame($entry['hex'], bin2hex($golden), 'manifest hex and file agree');
        if ($entry['class'] === 'Network\\SetTableCommand') {
            $encoded = Frame::tset($entry['key'], $entry['opaque']);
        } else {
            $command = $entry['class'] === 'Network\\PushCommand' ? 'push' : 'send';
            $message = Message::make($entry['key'], $entry['openid'], $entry['data']);
            $encoded = Frame::request($command, $message->openid(), $message->key(), $entry['opaque'], $message->body(), $message->headerWords());
        }
        $this->assertSame(bin2hex($golden), bin2hex($encoded));
    }

    /** @dataProvider replyProvider */
    public function testReplyDecodesAsTheOriginalWroteIt(array $entry): void
    {
        $golden = file_get_contents(self::goldenDir() . '/' . $entry['file']);
        $decoder = new FrameDecoder();
        foreach (str_split($golden) as $i => $byte) {  // one byte at a time: nothing before the last
            $this->assertNull($decoder->next(), "a reply after {$i} bytes");
            $decoder->feed($byte);
        }
        $reply = $decoder->next();
        $this->assertNotNull($reply);
        $this->assertSame([$entry['code'], (string) $entry['message'], $entry['opaque']], [$reply->code, $reply->message, $reply->opaque]);
        $this->assertSame(0, $decoder->buffered());
        $this->assertSame(bin2hex($golden), bin2hex(Frame::result($entry['code'], $entry['opaque'], (string) $entry['message'])));
    }

    public function testWechatErrorOfAFailedSend(): void
    {
        $decoder = new FrameDecoder();
        $decoder->feed(file_get_contents(self::goldenDir() . '/result_wechat.bin'));
        $this->assertSame(43004, $decoder->next()->wechatError()['errcode']);
    }
}
