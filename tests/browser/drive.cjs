// Drives tests/browser/page in Debian's Chromium (one launch): the page asks for a playback URL
// without a token, then with TOKEN; prints what it showed each time, as JSON, on one line.
// NODE_PATH names the folder holding playwright-core (.npm-tools/node_modules).
const { chromium } = require("playwright-core");

const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

async function ask(page, token, round) {
  await page.fill("#token", token);
  await page.click("#mint");
  await page.waitForSelector(`#status[data-done="${round}"]`, { timeout: 15000 });
  return { status: await page.textContent("#status"), iframe: await page.textContent("#iframe") };
}

async function main() {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, headless: true, args: FLAGS });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(15000);
    await page.goto(process.env.PAGE_URL);
    const withoutToken = await ask(page, "", 1);
    const withToken = await ask(page, process.env.TOKEN, 2);
    console.log(JSON.stringify({ withoutToken, withToken }));
  } finally {
    await browser.close();
  }
}

main().catch((error) => { console.error(String(error)); process.exit(1); });
