<?php
// mega answered a TCP request with something other than `result 200`: 400 (unknown template
// key, bad option, WeChat refused a `send`), 500 (template store unavailable) or 503 (queue
// full, disk full, too many connections). getCode() and getReplyCode() give that code.

declare(strict_types=1);

namespace Mega\Exception;

use Mega\Protocol\Reply;

class RejectedException extends \RuntimeException implements MegaException
{
    private Reply $reply;

    public function __construct(Reply $reply, string $request)
    {
        $text = $reply->message === '' ? '(no message)' : $reply->message;
        parent::__construct("mega refused {$request}: {$reply->code} {$text}", $reply->code);
        $this->reply = $reply;
    }

    public function getReply(): Reply
    {
        return $this->reply;
    }

    public function getReplyCode(): int
    {
        return $this->reply->code;
    }

    /** The server's text: the reason, or WeChat's JSON for a failed `send`. */
    public function getReplyMessage(): string
    {
        return $this->reply->message;
    }

    /** WeChat's answer to a failed `send` ({"errcode":…,"errmsg":…,"openid":…}), else null. */
    public function getWechatError(): ?array
    {
        return $this->reply->wechatError();
    }
}
