// Segment's stock Node SDK, unmodified, pointed at analytics-collect by its host option.
// Usage: node send.mjs HOST WRITE_KEY COUNT PREFIX
// Sends COUNT rounds of track/identify/page/group/alias with string ids and prints
// {"failed": [...]} (messages the SDK gave up on) as its last line.
import { Analytics } from '@segment/analytics-node'

const [host, writeKey, count, prefix] = process.argv.slice(2)
const analytics = new Analytics({
  writeKey,
  host,
  flushAt: 15,
  flushInterval: 50,
  maxRetries: 30,
  httpRequestTimeout: 5000,
})
const failed = []
analytics.on('error', (err) => failed.push(String(err?.reason ?? err?.message ?? err)))

for (let i = 0; i < Number(count); i++) {
  const userId = `${prefix}-user-${i % 3}`
  const id = (kind) => `${prefix}-${kind}-${i}`
  analytics.track({
    messageId: id('track'),
    userId,
    event: 'Order Completed',
    properties: { order: i, revenue: i + 0.5, prefix },
  })
  analytics.identify({ messageId: id('identify'), userId, traits: { plan: 'pro', email: `u${i}@example.com` } })
  analytics.page({ messageId: id('page'), anonymousId: `${prefix}-anon-${i}`, name: 'Pricing', properties: { i } })
  analytics.group({ messageId: id('group'), userId, groupId: `${prefix}-org`, traits: { seats: i } })
  analytics.alias({ messageId: id('alias'), userId, previousId: `${prefix}-anon-${i}` })
}
await analytics.closeAndFlush({ timeout: 120000 })
console.log(JSON.stringify({ failed }))
