<?php
// The Laravel notification channel "mega": a notification whose via() includes 'mega' and
// that has toMega($notifiable), returning a Mega\Message or an array with key, openid and
// data (and options), is queued on mega through the configured Sender. Without an openid the
// notifiable's routeNotificationFor('mega') supplies it; with none there, nothing is sent.

declare(strict_types=1);

namespace Mega\Laravel;

use Illuminate\Notifications\Notification;
use Mega\Exception\InvalidMessageException;
use Mega\Message;
use Mega\Sender;

final class MegaChannel
{
    private const DEFAULT_OPTIONS = ['priority', 'tries', 'source'];

    /** @param array $config the `mega` config (defaults, msgkey_from_notification_id) */
    public function __construct(private Sender $sender, private array $config = [])
    {
    }

    /**
     * Sends $notification to $notifiable; returns what the Sender answered (a Reply or a
     * Submitted), or null when the notifiable has no openid. A refusal throws.
     */
    public function send(mixed $notifiable, Notification $notification): ?object
    {
        if (!method_exists($notification, 'toMega')) {
            throw new \LogicException(get_class($notification) . " is sent via 'mega' but has no toMega(\$notifiable) method");
        }
        $message = $this->messageOf($notification->toMega($notifiable));
        if ($message->openid() === null) {
            $route = is_object($notifiable) && method_exists($notifiable, 'routeNotificationFor')
                ? $notifiable->routeNotificationFor('mega', $notification) : null;
            if ($route === null || $route === '') {
                return null;  // Laravel's convention: no route, no message
            }
            $message = $message->to((string) $route);
        }
        return $this->sender->submit($this->withDefaults($message, $notification));
    }

    private function messageOf(mixed $value): Message
    {
        if (is_array($value)) {
            return Message::fromArray($value);
        }
        if (!$value instanceof Message) {
            throw new InvalidMessageException('toMega() must return a Mega\Message or an array with key, openid and data, not ' . get_debug_type($value));
        }
        return $value;
    }

    private function withDefaults(Message $message, Notification $notification): Message
    {
        $set = $message->options();
        foreach (self::DEFAULT_OPTIONS as $name) {
            $value = $this->config['defaults'][$name] ?? null;
            if ($value !== null && $value !== '' && !isset($set[$name])) {
                $message = $name === 'tries' ? $message->tries((int) $value) : $message->{$name}((string) $value);
            }
        }
        $id = $notification->id ?? null;
        if (!isset($set['msgkey']) && ($this->config['msgkey_from_notification_id'] ?? true) && is_string($id) && $id !== '') {
            $message = $message->msgkey($id);
        }
        return $message;
    }
}
