<?php
// Stand-in for Laravel's Illuminate\Notifications\Notification: the id Laravel's
// NotificationSender sets (a UUID) and the locale.

namespace Illuminate\Notifications;

class Notification
{
    public $id;
    public $locale;
}
