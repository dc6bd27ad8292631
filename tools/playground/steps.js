// Drive the Microsoft 365 Agents Playground's web UI headless and take screenshots (what a Teams user sees).
//
//   npm install --prefix /tmp/pg @microsoft/m365agentsplayground playwright-core   # not into the repo
//   apt-get install -y chromium                                                   # the browser playwright drives
//   uptake serve &                                                                # emulator mode on 127.0.0.1:3978
//   /tmp/pg/node_modules/.bin/agentsplayground -e http://127.0.0.1:3978/api/messages -c msteams --dt &
//   NODE_PATH=/tmp/pg/node_modules node tools/playground/steps.js report "say:report" "click:Send" shot
//
// Steps, in order: "say:TEXT" (type in the focused chat), "mention:TEXT" (@mention the bot, then TEXT; channels),
// "click:TITLE" (the last card button whose title contains TITLE), "fill:LABEL=VALUE" (an input of the last
// card), "chat:NAME" (open a conversation in the left pane, e.g. General), "wait:MS", "shot" (a full-page PNG in
// $PLAYGROUND_SHOTS, default ./playground-shots/NAME-N.png; not committed).
const fs = require('fs');
const { chromium } = require('playwright-core');

(async () => {
  const [name, ...steps] = process.argv.slice(2);
  const out = process.env.PLAYGROUND_SHOTS || 'playground-shots';
  fs.mkdirSync(out, { recursive: true });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1600 } });
  await page.goto(process.env.PLAYGROUND_URL || 'http://127.0.0.1:56150', { waitUntil: 'networkidle' });
  await page.waitForTimeout(2000); // the playground sends conversationUpdate + installationUpdate first
  const editor = () => page.locator('[data-lexical-editor="true"]').last();
  let n = 0;
  for (const step of steps) {
    const [kind, ...rest] = step.split(':');
    const arg = rest.join(':');
    if (kind === 'say' || kind === 'mention') {
      await editor().click();
      if (kind === 'mention') {
        await page.keyboard.type('@Test');
        await page.getByText('Test Bot', { exact: true }).last().click();
        await page.keyboard.type(' ');
      }
      await page.keyboard.type(arg);
      await page.keyboard.press('Enter');
      await page.waitForTimeout(3000);
    } else if (kind === 'click') {
      await page.locator('.ac-adaptiveCard').getByRole('button', { name: arg }).last().click();
      await page.waitForTimeout(3000);
    } else if (kind === 'fill') {
      const [label, value] = arg.split('=');
      await page.locator('.ac-adaptiveCard').last().getByLabel(label).fill(value);
    } else if (kind === 'chat') {
      await page.getByText(arg, { exact: true }).first().click();
      await page.waitForTimeout(2000);
    } else if (kind === 'wait') {
      await page.waitForTimeout(Number(arg));
    } else if (kind === 'shot') {
      await page.screenshot({ path: `${out}/${name}-${n++}.png`, fullPage: true });
    } else {
      throw new Error(`unknown step ${step}`);
    }
  }
  await browser.close();
})();
