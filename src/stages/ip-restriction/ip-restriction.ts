import { Type, type Static } from '@sinclair/typebox';
import { IpSet } from '../../gateway/ip-set.js';
import { ALLOW, deny, type Stage, type Verdict } from '../../gateway/stage.js';
import type { StageKind } from '../registry-types.js';

const Settings = Type.Object(
  {
    allow: Type.Array(Type.String({ format: 'cidr' }), {
      default: [],
      description: 'When not empty, only these client IPs pass',
    }),
    deny: Type.Array(Type.String({ format: 'cidr' }), {
      default: [],
      description: 'These client IPs never pass; deny wins over allow',
    }),
  },
  { additionalProperties: false },
);
type Settings = Static<typeof Settings>;

const DENIED = deny({
  kind: 'forbidden',
  reason: 'blocks.ip.denied',
  detail: 'Client address is blocked.',
});
const NOT_ALLOWED = deny({
  kind: 'forbidden',
  reason: 'blocks.ip.not_allowed',
  detail: 'Client address is not allowed on this route.',
});

/** Allow and deny lists of client addresses, on the IP resolved through trusted proxies only. */
export const ipRestriction: StageKind<Settings> = {
  type: 'ip-restriction',
  phase: 'blocks',
  description: 'Allow or deny client IPs and CIDR ranges',
  settings: Settings,
  create(settings): Stage {
    const allow = new IpSet(settings.allow);
    const denied = new IpSet(settings.deny);
    return {
      name: 'ip-restriction',
      onRequest(ctx): Verdict {
        if (denied.has(ctx.clientIp)) return DENIED;
        if (allow.size > 0 && !allow.has(ctx.clientIp)) return NOT_ALLOWED;
        return ALLOW;
      },
    };
  },
};
