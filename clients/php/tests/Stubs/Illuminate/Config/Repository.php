<?php
// Stand-in for Laravel's config repository: get/set with dotted keys.

namespace Illuminate\Config;

class Repository
{
    public function __construct(private array $items = [])
    {
    }

    public function get($key, $default = null)
    {
        $value = $this->items;
        foreach (explode('.', $key) as $part) {
            if (!is_array($value) || !array_key_exists($part, $value)) {
                return $default;
            }
            $value = $value[$part];
        }
        return $value;
    }

    public function set($key, $value)
    {
        $node = &$this->items;
        foreach (explode('.', $key) as $part) {
            if (!isset($node[$part]) || !is_array($node[$part])) {
                $node[$part] = [];
            }
            $node = &$node[$part];
        }
        $node = $value;
    }
}
