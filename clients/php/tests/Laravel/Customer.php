<?php
// A notifiable model: routeNotificationForMega() gives its openid (RoutesNotifications).

declare(strict_types=1);

namespace Mega\Tests\Laravel;

use Illuminate\Notifications\RoutesNotifications;

final class Customer
{
    use RoutesNotifications;

    public function __construct(public ?string $wechatOpenid)
    {
    }

    public function routeNotificationForMega($notification): ?string
    {
        return $this->wechatOpenid;
    }
}
