require "net/http"

# The page as a person sees it: a real headless Chromium, driven by Capybara
# and selenium-webdriver, on a Rails app that mounts MiddleManagement::Web
# and has made real decisions on PostgreSQL against the local formation.
RSpec.describe "the page in a browser" do
  include_context "a postgres server"
  include ChildProcess::Helpers

  CHROMIUM = "/usr/bin/chromium".freeze # the same paths as browse.rb
  CHROMEDRIVER = "/usr/bin/chromedriver".freeze
  # The README's picture is made by this spec on demand
  # (`UPDATE_SCREENSHOT=1 rspec spec/web_browser_spec.rb`); a plain run
  # leaves the repository's copy alone and saves its own under tmp/.
  SCREENSHOT = File.expand_path(ENV["UPDATE_SCREENSHOT"] ? "../doc/middle_management_page.png" : "../tmp/middle_management_page.png", __dir__)
  WEB_USER = "ops".freeze
  WEB_PASSWORD = "browser-pass-5d1".freeze
  HEROKU_TOKEN = "hk-browser-token-77aa".freeze

  def self.missing_reason
    return "Chromium is not installed (apt-get install chromium chromium-driver; bin/setup does)" unless
      File.executable?(CHROMIUM) && File.executable?(CHROMEDRIVER)

    # Looked for, not loaded: browse.rb loads them in a process of its own.
    %w[capybara selenium-webdriver].each do |name|
      Gem::Specification.find_by_name(name)
    rescue Gem::MissingSpecError
      return "#{name} is missing (apt-get install ruby-capybara ruby-selenium-webdriver; bin/setup does)"
    end
    nil
  end

  before { skip(self.class.missing_reason) if self.class.missing_reason }

  let(:heroku) do
    FakeHeroku.start(app: "example", token: HEROKU_TOKEN, formation: { "worker" => 0, "urgent_worker" => 0 })
  end

  # The Rails app in a child process: it decides, then serves.
  def start_app
    port = ThrowawayServer.free_port
    env = { "WEB_APP_DATABASE_URL" => postgres_server.url, "WEB_APP_PORT" => port.to_s,
            "MIDDLE_MANAGEMENT_HEROKU_APP" => "example", "MIDDLE_MANAGEMENT_HEROKU_API_KEY" => HEROKU_TOKEN,
            "MIDDLE_MANAGEMENT_HEROKU_API_URL" => heroku.url, "MIDDLE_MANAGEMENT_MAX_WORKERS" => "5",
            "MIDDLE_MANAGEMENT_JOBS_PER_WORKER" => "1", "MIDDLE_MANAGEMENT_API_THROTTLE" => "0",
            "MIDDLE_MANAGEMENT_COUNT_INTERVAL" => "0", "MIDDLE_MANAGEMENT_DYNO_PRICE" => "0.05",
            "MIDDLE_MANAGEMENT_WEB_USERNAME" => WEB_USER, "MIDDLE_MANAGEMENT_WEB_PASSWORD" => WEB_PASSWORD }
    app = start_child(env, RbConfig.ruby, File.expand_path("apps/web/app.rb", __dir__))
    await("the Rails app to decide and listen", timeout: 60, saw: -> { app.output.lines.last(15).join }) do
      app.output.include?("listening on 127.0.0.1:#{port}") || (!app.running? && raise("the app exited:\n#{app.output}"))
    end
    "http://127.0.0.1:#{port}"
  end

  def history_rows(pool)
    conn = PG.connect(host: "127.0.0.1", port: postgres_server.port, user: PostgresServer::USER, dbname: PostgresServer::DATABASE)
    conn.exec_params("SELECT at, figures FROM middle_management_history WHERE process_type = $1 AND kind = 'sample' " \
                     "ORDER BY at, id", [pool]).map { |row| [Integer(row["at"]), JSON.parse(row["figures"])] }
  ensure
    conn&.close
  end

  it "is closed without credentials, and with them shows each pool, its chart, decisions and cost", time_limit: 200 do
    base = start_app
    expect(heroku.quantity("worker")).to eq(1)
    expect(heroku.quantity("urgent_worker")).to eq(1)
    output, status = capture_within(RbConfig.ruby, File.expand_path("apps/web/browse.rb", __dir__), base, WEB_USER,
                                    WEB_PASSWORD, SCREENSHOT, timeout: 90)
    expect(status).to be_success, output
    seen = JSON.parse(output.lines.last, symbolize_names: false)

    # Without credentials configured: 403 and how to open it. With them, a
    # request without them is asked for them.
    expect(seen["closed_text"]).to include("closed until you open it", "MIDDLE_MANAGEMENT_WEB_USERNAME")
    expect(Net::HTTP.get_response(URI("#{base}/unconfigured/middle_management")).code).to eq("403")
    expect(Net::HTTP.get_response(URI("#{base}/middle_management")).code).to eq("401")

    # With them: each pool, its chart's points the history's samples, row for row.
    expect(seen["pools"]).to eq(%w[worker urgent_worker])
    expect(seen["headings"]).to eq(["Pool worker", "Pool urgent_worker"])
    %w[worker urgent_worker].each do |pool|
      rows = history_rows(pool).map { |at, figures| [at, figures["runnable"]] }
      expect(rows).not_to be_empty
      expect(seen["points"][pool]).to eq(rows)
    end
    expect(seen["polylines"]).to eq(4) # runnable and workers, per pool

    # The decisions with their reasons (up to 3, then down to 1), the cost lines, the alerts' place.
    worker = seen["decisions"]["worker"]
    changes = worker.map { |cells| cells[1] } # newest first
    expect(changes).to include("3 → 1", "unknown → 3")
    expect(changes.index("3 → 1")).to be < changes.index("unknown → 3")
    expect(worker.map { |cells| cells[2] }).to all(match(/\w/))
    expect(seen["decisions"]["urgent_worker"].map { |cells| cells[1] }.last).to match(/→ 1\z/)
    seen["cost"].each_value do |text|
      expect(text).to include("Today (UTC)", "Last 7 days", "MAX_WORKERS always on")
      expect(text).to match(/\$\d+\.\d\d/)
    end
    expect(seen["alerts"]).to be(true)

    # Nothing secret, nothing from another host.
    html = seen["html"]
    expect(html).not_to include(WEB_PASSWORD, HEROKU_TOKEN)
    expect(html.scan(%r{https?://[^\s"'<>]+}).reject { |url| url.start_with?("http://127.0.0.1:") }).to eq([])
    expect(seen["requests"]).not_to be_empty
    expect(seen["requests"].map { |url| URI(url).host }.uniq).to eq(["127.0.0.1"])
    request = Net::HTTP::Get.new(URI("#{base}/middle_management"))
    request.basic_auth(WEB_USER, WEB_PASSWORD)
    ok = Net::HTTP.start("127.0.0.1", URI(base).port) { |http| http.request(request) }
    expect(ok.code).to eq("200")
    expect(ok["Content-Security-Policy"]).to eq("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:")
    expect(File.size(SCREENSHOT)).to be > 10_000
  end
end
