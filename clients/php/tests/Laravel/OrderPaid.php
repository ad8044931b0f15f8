<?php
// A notification as a Laravel app writes it: via(['mega']) and toMega() returning the key,
// openid and data as an array (openid left out when $openid is null).

declare(strict_types=1);

namespace Mega\Tests\Laravel;

use Illuminate\Notifications\Notification;

final class OrderPaid extends Notification
{
    public function __construct(private string $product, private ?string $openid = null, private array $options = [])
    {
    }

    public function via($notifiable): array
    {
        return ['mega'];
    }

    public function toMega($notifiable): array
    {
        $message = ['key' => 'order_paid', 'data' => ['product' => $this->product, 'price' => '9.9']] + $this->options;
        return $this->openid === null ? $message : $message + ['openid' => $this->openid];
    }
}
