<?php
// Stand-in for Laravel's AnonymousNotifiable (Notification::route('mega', 'oOPENID')).

namespace Illuminate\Notifications;

class AnonymousNotifiable
{
    public array $routes = [];

    public function route($channel, $route)
    {
        $this->routes[$channel] = $route;
        return $this;
    }

    public function routeNotificationFor($driver)
    {
        return $this->routes[$driver] ?? null;
    }
}
