import { describe, expect, it } from 'vitest';
import { generateApiKey } from '../../../src/stages/authn/api-key/api-key-format.js';
import {
  DETECTOR_IDS,
  type DetectorId,
} from '../../../src/stages/data-protection/detectors/detector.js';
import { scanPolicy, scanWhole } from '../../../src/stages/data-protection/stream-scanner.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64url');
const JWT = `${b64('{"alg":"HS256","typ":"JWT"}')}.${b64('{"sub":"alice"}')}.${'s'.repeat(43)}`;
const PCL = generateApiKey('live');
const PCL_BAD = PCL.slice(0, -1) + (PCL.endsWith('A') ? 'B' : 'A');
const HEX40 = 'a'.repeat(20) + '0123456789'.repeat(2);
const PEM_BODY = 'MIIEowIBAAKCAQEA' + 'x'.repeat(64);
const PEM = `-----BEGIN RSA PRIVATE KEY-----\n${PEM_BODY}\n-----END RSA PRIVATE KEY-----`;

const maskAll = scanPolicy(new Map(DETECTOR_IDS.map((id) => [id, 'mask'])));

function found(text: string): DetectorId[] {
  const { scanner } = scanWhole(maskAll, Buffer.from(text, 'latin1'));
  return [...scanner.counts.keys()].sort();
}

function masked(text: string): string {
  return scanWhole(maskAll, Buffer.from(text, 'latin1')).out.toString('latin1');
}

describe('sensitive-data detectors', () => {
  it.each<[string, string, DetectorId]>([
    ['a Visa number', 'card 4111111111111111 ok', 'card'],
    ['a Visa number in groups of four', '"4111 1111 1111 1111"', 'card'],
    ['a Visa number with dashes', '4111-1111-1111-1111', 'card'],
    ['an Amex number', '378282246310005', 'card'],
    ['a Mastercard 2-series number', '2223003122003222', 'card'],
    ['a Discover number', '6011111111111117', 'card'],
    ['a JCB number', '3530111333300000', 'card'],
    ['a Diners number', '30569309025904', 'card'],
    ['a card followed by its expiry in the same run', '4111 1111 1111 1111 1229', 'card'],
    ['a compact IBAN', 'iban=DE89370400440532013000;', 'iban'],
    ['a grouped IBAN', 'DE89 3704 0044 0532 0130 00', 'iban'],
    ['a British IBAN', 'GB82WEST12345698765432', 'iban'],
    ['an SSN', 'ssn: 123-45-6789.', 'ssn'],
    ['a PEM private key', PEM, 'private-key'],
    [
      'a PKCS#8 private key in a JSON string',
      `"-----BEGIN PRIVATE KEY-----\\n${PEM_BODY}\\n-----END PRIVATE KEY-----\\n"`,
      'private-key',
    ],
    [
      'an OpenSSH private key',
      '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----',
      'private-key',
    ],
    ['a JWT', `Bearer ${JWT}`, 'jwt'],
    ['an unsigned JWT', `${b64('{"alg":"none"}')}.${b64('{"a":1}')}.`, 'jwt'],
    ['an AWS access key id', '"AKIAIOSFODNN7EXAMPLE"', 'aws-access-key'],
    ['an AWS session key id', 'ASIAIOSFODNN7EXAMPLE', 'aws-access-key'],
    ['a Google API key', `key=AIza${'B'.repeat(35)}&`, 'gcp-api-key'],
    ['a Google service-account key id', `{"private_key_id": "${HEX40}"}`, 'gcp-service-account'],
    ['a GitHub token', `ghp_${'a1'.repeat(18)}`, 'github-token'],
    [
      'a GitHub fine-grained token',
      `github_pat_${'A'.repeat(22)}_${'b'.repeat(59)}`,
      'github-token',
    ],
    ['a Slack bot token', 'xoxb-1234567890-1234567890-abcdefghijklmnop', 'slack-token'],
    ['a Stripe live secret key', `sk_live_${'4eC39HqLyjWDarjtT1zdp7dc'}`, 'stripe-key'],
    ['a Portcullis API key', `x-api-key: ${PCL}`, 'portcullis-api-key'],
  ])('finds %s', (_name, text, id) => {
    expect(found(text)).toEqual([id]);
  });

  it.each<[string, string]>([
    ['a card number failing the Luhn check', '4111111111111112'],
    ['a Luhn-valid number of no known issuer', '1234567812345670'],
    ['a Visa number of a length Visa does not issue', '41111111111111111'],
    ['a card glued to a word', 'id4111111111111111'],
    ['a run of 24 digits', '411111111111111141111111'],
    ['an IBAN with a wrong checksum', 'DE88370400440532013000'],
    ['an IBAN one character short', 'DE8937040044053201300'],
    ['an IBAN of an unknown country', 'ZZ89370400440532013000'],
    ['a lower-case IBAN', 'de89370400440532013000'],
    ['an SSN with area 000', '000-12-3456'],
    ['an SSN with area 666', '666-12-3456'],
    ['an SSN with area 9xx', '912-12-3456'],
    ['an SSN with group 00', '123-00-4567'],
    ['an SSN with serial 0000', '123-45-0000'],
    ['the Woolworth wallet SSN', '078-05-1120'],
    ['an SSN-shaped part of a longer number', '1123-45-6789'],
    ['nine digits without dashes', '123456789'],
    ['a PEM public key', '-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----'],
    ['a certificate', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----'],
    ['a JWT-like token whose header has no alg', `${b64('{"typ":"JWT"}')}.${b64('{}')}.sig`],
    ['a JWT-like token whose header is not JSON', `eyJub3QganNvbg.${b64('{}')}.sig`],
    ['a two-part token', `${b64('{"alg":"HS256"}')}.${b64('{}')}`],
    ['an AWS-like id one character short', 'AKIAIOSFODNN7EXAMPL'],
    ['an AWS-like id inside a longer token', 'AKIAIOSFODNN7EXAMPLEX'],
    ['an AWS-like id in lower case', 'akiaiosfodnn7example'],
    ['a GitHub-like token with an unknown prefix', `ghx_${'a1'.repeat(18)}`],
    ['a Stripe test key', `sk_test_${'4eC39HqLyjWDarjtT1zdp7dc'}`],
    ['a Portcullis key with a wrong checksum', PCL_BAD],
    ['a service-account key id that is not hex', `{"private_key_id": "${'z'.repeat(40)}"}`],
  ])('does not report %s', (_name, text) => {
    expect(found(text)).toEqual([]);
  });

  it.each<[string, string, string]>([
    ['a card, keeping its last four digits', '4111 1111 1111 1111', '**** **** **** 1111'],
    ['an IBAN, keeping its last four', 'DE89370400440532013000', '******************3000'],
    ['an SSN', '123-45-6789', '***-**-****'],
    ['an AWS key id, keeping its prefix', 'AKIAIOSFODNN7EXAMPLE', `AKIA${'*'.repeat(16)}`],
    ['a Portcullis key, keeping its prefix', PCL, `pcl_live_${'*'.repeat(49)}`],
    [
      'a private key in JSON, keeping its armour and its escapes',
      `"-----BEGIN PRIVATE KEY-----\\nAB+/\\n-----END PRIVATE KEY-----"`,
      `"-----BEGIN PRIVATE KEY-----\\n****\\n-----END PRIVATE KEY-----"`,
    ],
  ])('masks %s with the same length', (_name, text, expected) => {
    expect(masked(text)).toBe(expected);
  });

  it('keeps a masked JSON document parseable', () => {
    const doc = JSON.stringify({
      card: '4111111111111111',
      key: `-----BEGIN PRIVATE KEY-----\n${PEM_BODY}\n-----END PRIVATE KEY-----\n`,
      token: JWT,
    });
    const out = masked(doc);
    expect(out).toHaveLength(doc.length);
    const parsed = JSON.parse(out) as Record<string, string>;
    expect(parsed.card).toBe('************1111');
    expect(parsed.key).toContain('-----BEGIN PRIVATE KEY-----\n***');
    expect(parsed.token).not.toContain('alice');
  });
});
