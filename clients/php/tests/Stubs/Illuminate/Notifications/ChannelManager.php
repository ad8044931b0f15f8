<?php
// Stand-in for Laravel's Illuminate\Notifications\ChannelManager: extend() registers a
// driver creator (called with the container, as Illuminate\Support\Manager does), driver()
// builds it once, and send() walks via() as NotificationSender::sendNow does (an id per
// notifiable, a clone of the notification per channel).

namespace Illuminate\Notifications;

class ChannelManager
{
    private array $customCreators = [];
    private array $drivers = [];

    public function __construct(private $container)
    {
    }

    public function extend($driver, \Closure $callback)
    {
        $this->customCreators[$driver] = $callback;
        return $this;
    }

    public function driver($driver = null)
    {
        if (!isset($this->customCreators[$driver])) {
            throw new \InvalidArgumentException("Driver [{$driver}] not supported.");
        }
        return $this->drivers[$driver] ??= $this->customCreators[$driver]($this->container);
    }

    public function send($notifiables, $notification)
    {
        foreach (is_array($notifiables) ? $notifiables : [$notifiables] as $notifiable) {
            $id = $notification->id ?? sprintf('%08x-%04x-4%03x-a%03x-%012x', random_int(0, 0xffffffff), random_int(0, 0xffff), random_int(0, 0xfff), random_int(0, 0xfff), random_int(0, 0xffffffffffff));
            foreach ((array) $notification->via($notifiable) as $channel) {
                $copy = clone $notification;
                $copy->id ??= $id;
                $this->driver($channel)->send($notifiable, $copy);
            }
        }
    }
}
