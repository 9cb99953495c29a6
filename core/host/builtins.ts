import cni from '../../plugins/cni/index.ts';
import router from '../../plugins/router/index.ts';

/**
 * The built-in plugins, bundled into the executable. Each is an ordinary SDK
 * plugin (a `definePlugin` default export); they start in this order, before
 * external plugins, and stop in reverse. To add one, import its module and
 * list it here.
 */
export const builtins: readonly unknown[] = [cni, router];
