# Drives headless Chromium through Capybara and selenium-webdriver over the
# page of spec/apps/web/app.rb, and prints what it saw as JSON on the last
# line, for spec/web_browser_spec.rb to check. A process of its own:
# selenium-webdriver's `childprocess` gem defines a ChildProcess module that
# the specs' own ChildProcess class would clash with.
#   ruby browse.rb BASE_URL USER PASSWORD SCREENSHOT
require "capybara"
require "selenium-webdriver"
require "fileutils"
require "json"

base, user, password, screenshot = ARGV
CHROMIUM = "/usr/bin/chromium".freeze
CHROMEDRIVER = "/usr/bin/chromedriver".freeze
POOLS = %w[worker urgent_worker].freeze

Capybara.register_driver(:chromium) do |app|
  options = Selenium::WebDriver::Chrome::Options.new(binary: CHROMIUM)
  # Root needs --no-sandbox; the rest keeps Chromium from calling home.
  %w[--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --window-size=1280,1000 --no-first-run
     --disable-background-networking --disable-component-update --disable-sync --disable-default-apps
     --disable-extensions --metrics-recording-only --no-default-browser-check].each { |flag| options.add_argument(flag) }
  options.add_option("goog:loggingPrefs", { performance: "ALL" })
  service = Selenium::WebDriver::Service.chrome(path: CHROMEDRIVER)
  Capybara::Selenium::Driver.new(app, browser: :chrome, options: options, service: service)
end
Capybara.default_max_wait_time = 10
session = Capybara::Session.new(:chromium)

# Every request a page made, from Chrome's performance log.
requested = lambda do
  session.driver.browser.logs.get(:performance).filter_map do |entry|
    message = JSON.parse(entry.message)["message"]
    message.dig("params", "request", "url") if message["method"] == "Network.requestWillBeSent"
  end
end

begin
  seen = {}
  session.visit("#{base}/unconfigured/middle_management")
  seen[:closed_text] = session.find("body").text
  requested.call # drop the closed page's requests

  # Credentials in the URL: Chromium sends them as HTTP Basic.
  session.visit("#{base.sub("http://", "http://#{user}:#{password}@")}/middle_management/?span=hour")
  session.find("h1", text: "Middle Management")
  seen[:pools] = session.all("section.pool").map { |section| section["data-pool"] }
  seen[:headings] = session.all("section.pool h2").map(&:text)
  seen[:points] = POOLS.to_h do |pool|
    circles = session.all("section[data-pool='#{pool}'] svg.chart circle", visible: :all)
    [pool, circles.map { |circle| [Integer(circle["data-at"]), Integer(circle["data-runnable"])] }]
  end
  seen[:polylines] = session.all("svg.chart polyline", visible: :all).size
  seen[:decisions] = POOLS.to_h do |pool|
    rows = session.all("section[data-pool='#{pool}'] table.decisions tbody tr")
    [pool, rows.map { |row| row.all("td").map(&:text) }]
  end
  seen[:cost] = POOLS.to_h { |pool| [pool, session.find("section[data-pool='#{pool}'] table.cost").text] }
  seen[:alerts] = session.has_css?("#alerts")
  seen[:html] = session.html
  seen[:requests] = requested.call

  # The whole page, for the README.
  height = session.evaluate_script("document.documentElement.scrollHeight").to_i
  session.current_window.resize_to(1280, [height + 160, 1000].max) # the window is taller than its page by its frame
  FileUtils.mkdir_p(File.dirname(screenshot))
  session.save_screenshot(screenshot)
  puts JSON.generate(seen)
ensure
  session.driver.quit
end
