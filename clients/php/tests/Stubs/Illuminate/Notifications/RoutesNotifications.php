<?php
// Stand-in for Laravel's RoutesNotifications trait (used by Notifiable): routeNotificationFor
// asks the model's routeNotificationForMega($notification) method.

namespace Illuminate\Notifications;

trait RoutesNotifications
{
    public function routeNotificationFor($driver, $notification = null)
    {
        $method = 'routeNotificationFor' . ucfirst($driver);
        return method_exists($this, $method) ? $this->{$method}($notification) : null;
    }
}
