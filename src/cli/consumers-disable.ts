import { announceConsumersChanged } from '../state/consumers/change-announcements.js';
import { ConsumerStore } from '../state/consumers/consumer-store.js';
import { AdminError } from './admin-error.js';
import { AdminSession } from './admin-session.js';

/**
 * `portcullis consumers disable ID` (`disabled` true) and `consumers enable ID` (false): every
 * credential of a disabled consumer is refused (`authn.*.consumer_disabled`) on every gateway
 * within a second. Records `consumer.disable` or `consumer.enable`. A consumer of the config file
 * is changed in the file, not here.
 */
export async function runConsumersSetDisabled(
  id: string,
  disabled: boolean,
  opts: { config: string; json?: boolean },
): Promise<void> {
  await AdminSession.run(opts.config, async (session) => {
    if (session.config.consumers.some((c) => c.id === id)) {
      throw new AdminError(
        'PCL_ADMIN_CONFLICT',
        `consumer ${id} is declared in the config file, which wins over the store: set disabled there`,
      );
    }
    const result = await new ConsumerStore(session.db, () => session.clock.now()).setDisabled(
      id,
      disabled,
    );
    if (result === undefined) {
      throw new AdminError('PCL_ADMIN_NOT_FOUND', `no consumer ${id} in the store`);
    }
    if (result.changed) await session.announce(announceConsumersChanged);
    await session.record({
      action: disabled ? 'consumer.disable' : 'consumer.enable',
      target: `consumer:${id}`,
      details: { changed: result.changed },
    });
    const state = disabled ? 'disabled' : 'enabled';
    process.stdout.write(
      opts.json === true
        ? `${JSON.stringify({ id, disabled, changed: result.changed })}\n`
        : `consumer ${id} ${result.changed ? state : `was already ${state}`}\n`,
    );
  });
}
