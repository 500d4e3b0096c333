require "middle_management/web"
require "middle_management/runtime/tuner"
require "net/http"

# The page as Rack sees it, from known rows: who may see it, what it shows,
# that every value is escaped and no secret is, and the cost arithmetic.
RSpec.describe MiddleManagement::Web do
  HOUR_MS = 3_600_000
  NOW_MS = Time.utc(2026, 3, 2, 2).to_i * 1000 # 02:00 UTC: two hours into "today"

  # Status and history as a fake: known rows, a known clock.
  class WebSource
    attr_accessor :configuration, :status, :rows, :measures, :tunings

    def initialize(configuration, status, rows)
      @configuration = configuration
      @status = status
      @rows = rows
      @measures = {}
      @tunings = {}
    end

    def history(pool, since, kinds) = rows.fetch(pool, []).select { |entry| entry.at >= since && kinds.include?(entry.kind) }
    def measured(pool) = measures[pool]
    def tuning(pool) = tunings[pool]
    def now_ms = NOW_MS
  end

  def entry(kind, at, **figures) = MiddleManagement::Store::HistoryEntry.new(pool: "worker", kind: kind, at: at, figures: figures)

  def configuration(env = {})
    base = { "MIDDLE_MANAGEMENT_MAX_WORKERS" => "5", "MIDDLE_MANAGEMENT_DYNO_PRICE" => "0.5",
             "MIDDLE_MANAGEMENT_HEROKU_API_KEY" => "hk-secret-token-9f3e" }
    MiddleManagement::Configuration.from_env(base.merge(env))
  end

  let(:credentials) { { "MIDDLE_MANAGEMENT_WEB_USERNAME" => "ops", "MIDDLE_MANAGEMENT_WEB_PASSWORD" => "s3cret-pass-77" } }
  let(:rows) do
    { "worker" => [
      entry(:sample, NOW_MS - (3 * HOUR_MS), runnable: 3, capped: false, running: 0, quantity: 2, needed: 2),
      entry(:change, NOW_MS - HOUR_MS - 1000, from: 2, to: 4, reason: "<b>4 outstanding</b> & rising", busy: ["worker.2"],
                                              draining: [], by: "host:1:abc"),
      entry(:confirmed, NOW_MS - HOUR_MS, quantity: 4),
      entry(:error, NOW_MS - (HOUR_MS / 2) - 1, message: "Heroku said 503", status: 503),
      entry(:sample, NOW_MS - (HOUR_MS / 2), runnable: 12, capped: true, running: 4, quantity: 4, needed: 4)
    ] }
  end
  let(:status) do
    { enabled: true, disabled_reason: nil, store: "SQL", rate_limit_remaining: 4321,
      pools: [{ name: "worker", desired: 4, known: 4, runnable: 12, capped: true, running: 4, busy_dynos: ["worker.2"],
                draining: ["worker.4"], calls: 2, errors: 1, last_result: "ok", token: "hk-secret-token-9f3e" }] }
  end

  let(:measures) { {} }
  let(:tunings) { {} }

  def app(env = {}, authorize: nil)
    source = WebSource.new(configuration(env), status, rows)
    source.measures = measures
    source.tunings = tunings
    auth = MiddleManagement::Web::Auth.new(source.configuration, authorize)
    described_class.new(source: source, auth: auth)
  end

  def get(app, path = "/", headers = {})
    Rack::MockRequest.new(app).get(path, { "SCRIPT_NAME" => "/middle_management" }.merge(headers))
  end

  def basic(user, password) = { "HTTP_AUTHORIZATION" => "Basic #{["#{user}:#{password}"].pack("m0")}" }

  it "answers 403 without credentials or authorize, saying how to open it" do
    response = get(app)
    expect(response.status).to eq(403)
    expect(response.body).to include("MIDDLE_MANAGEMENT_WEB_USERNAME", "MIDDLE_MANAGEMENT_WEB_PASSWORD",
                                     "MiddleManagement::Web.authorize")
    expect(get(app, "/status.json").status).to eq(403)
    expect(described_class.call(Rack::MockRequest.env_for("/")).first).to eq(403) # the class itself, as mounted
  end

  it "asks for HTTP Basic with credentials set, and lets the right ones in" do
    expect(get(app(credentials)).status).to eq(401)
    expect(get(app(credentials)).headers["WWW-Authenticate"]).to start_with("Basic")
    expect(get(app(credentials), "/", basic("ops", "wrong")).status).to eq(401)
    expect(get(app(credentials), "/", basic("other", "s3cret-pass-77")).status).to eq(401)
    ok = get(app(credentials), "/", basic("ops", "s3cret-pass-77"))
    expect(ok.status).to eq(200)
    expect(ok.headers["Content-Security-Policy"]).to eq("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:")
  end

  it "lets the app's authorize block decide" do
    allowed = app(authorize: ->(request) { request.get_header("HTTP_X_ADMIN") == "yes" })
    expect(get(allowed, "/", "HTTP_X_ADMIN" => "yes").status).to eq(200)
    expect(get(allowed).status).to eq(403)
  end

  it "takes the app's word through MiddleManagement::Web.authorize" do
    described_class.authorize { |request| request.get_header("HTTP_X_ADMIN") == "yes" }
    app = described_class.new(source: WebSource.new(configuration, status, rows))
    expect(get(app, "/", "HTTP_X_ADMIN" => "yes").status).to eq(200)
    expect(get(app).status).to eq(403)
  ensure
    described_class.authorize # none again
  end

  it "is served by the local formation beside the API, open, outside the API's log and rate limit" do
    page = described_class.new(source: WebSource.new(configuration, status, rows), local: true)
    heroku = FakeHeroku.start(formation: { "worker" => 0 }, web: page)
    remaining = heroku.rate_limit_remaining
    response = Net::HTTP.get_response(URI("#{heroku.page_url}/?span=day"))
    expect(response.code).to eq("200")
    expect(response.body).to include("Pool worker", "open without credentials")
    expect(Net::HTTP.get_response(URI("#{heroku.page_url}/status.json")).body).to include('"name":"worker"')
    expect(Net::HTTP.get_response(URI("#{heroku.url}/middle_management_else")).code).to eq("400") # the API answers it, as before (no Accept header)
    expect(heroku.requests.size).to eq(1)
    expect(heroku.rate_limit_remaining).to eq(remaining - 1)
  end

  it "is read-only" do
    response = Rack::MockRequest.new(app(credentials)).post("/", basic("ops", "s3cret-pass-77"))
    expect(response.status).to eq(405)
  end

  it "escapes every value and shows no secret, in the page or the JSON" do
    page = get(app(credentials), "/", basic("ops", "s3cret-pass-77")).body
    json = get(app(credentials), "/status.json", basic("ops", "s3cret-pass-77")).body
    expect(page).to include("&lt;b&gt;4 outstanding&lt;&#x2F;b&gt; &amp; rising")
    expect(page).not_to include("<b>4 outstanding")
    [page, json].each do |body|
      expect(body).not_to include("hk-secret-token-9f3e", "s3cret-pass-77")
    end
    expect(page).not_to match(%r{https?://})
    expect(page).to include("≥ 12", "worker.2", "worker.4", "Heroku said 503", "Alerts")
  end

  it "shows each alert until it clears, in the page and the JSON" do
    expect(get(app(credentials), "/", basic("ops", "s3cret-pass-77")).body).to include("Alerts</strong>: none.")
    rows["worker"] += [
      entry(:alert, NOW_MS - 60_000, kind: "backlog", text: "worker: at least 26 jobs waiting need more than MAX_WORKERS (5)"),
      entry(:alert, NOW_MS - 50_000, kind: "waiting", text: "worker: the oldest runnable job has waited <17 min>"),
      entry(:sample, NOW_MS - 40_000, runnable: 26, capped: true, running: 5, quantity: 5, needed: 5, over_max: true,
                                      oldest_wait: 12.0)
    ]
    page = get(app(credentials), "/", basic("ops", "s3cret-pass-77")).body
    json = JSON.parse(get(app(credentials), "/status.json", basic("ops", "s3cret-pass-77")).body)
    expect(page).to include('<li data-kind="backlog">', "need more than MAX_WORKERS (5)")
    expect(page).not_to include("waited &lt;17 min&gt;") # cleared by the look after it
    expect(json["alerts"]).to eq([{ "pool" => "worker", "kind" => "backlog", "at" => "2026-03-02T01:59:00.000Z",
                                    "text" => "worker: at least 26 jobs waiting need more than MAX_WORKERS (5)" }])
    rows["worker"] << entry(:sample, NOW_MS - 30_000, runnable: 2, running: 2, quantity: 5, needed: 2, over_max: false)
    expect(JSON.parse(get(app(credentials), "/status.json", basic("ops", "s3cret-pass-77")).body)["alerts"]).to eq([])
  end

  it "says the jobs per worker the last look sized by, and what was measured" do
    page = get(app(credentials), "/", basic("ops", "s3cret-pass-77")).body
    expect(page).to include("<td>Jobs per worker</td><td>auto (no decision yet)</td>",
                            "<td>Measured</td><td>too few jobs measured; no boot measured yet</td>")
    rows["worker"] << entry(:sample, NOW_MS - 1000, runnable: 9, running: 0, quantity: 4, needed: 3, jobs_per_worker: 3)
    measures["worker"] = MiddleManagement::Measures::Measured.new(job_seconds: 2.04, jobs: 412, boot_seconds: 6.1, boots: 2)
    page = get(app(credentials), "/", basic("ops", "s3cret-pass-77")).body
    expect(page).to include("<td>Jobs per worker</td><td>3 (auto: a dyno&#x27;s boot ÷ a job&#x27;s duration",
                            "<td>Measured</td><td>jobs take 2.0 s (412 in the last day); dynos boot in 6.1 s (2 boots)</td>")
    json = JSON.parse(get(app(credentials), "/status.json", basic("ops", "s3cret-pass-77")).body)
    expect(json["pools"].first).to include("jobs_per_worker" => "auto",
                                           "measured" => { "job_seconds" => 2.04, "jobs" => 412, "boot_seconds" => 6.1, "boots" => 2 })
    expect(json["pools"].first["now"]["jobs_per_worker"]).to eq(3)
    fixed = get(app(credentials.merge("MIDDLE_MANAGEMENT_JOBS_PER_WORKER" => "4")), "/", basic("ops", "s3cret-pass-77")).body
    expect(fixed).to include("<td>Jobs per worker</td><td>4</td>")
  end

  it "shows what the last day says to set, beside the app's settings and the peers, once it is replayed" do
    page = get(app(credentials), "/", basic("ops", "s3cret-pass-77")).body
    expect(page).to include("Tuning: the last day is being replayed with other settings; reload in a minute.")
    tuned = MiddleManagement::Runtime::Tuner::Tuned
    tunings["worker"] = tuned.new(outcome: MiddleManagement::Tuning::Error.new("no job ended <yet>"), at: NOW_MS)
    page = get(app(credentials), "/", basic("ops", "s3cret-pass-77")).body
    expect(page).to include("Tuning (2026-03-02T02:00:00.000Z): no job ended &lt;yet&gt;</p>")
    # Jobs of 3 s, one every 10 s for two hours, served by one dyno.
    jobs = (0...720).map { |i| [i * 10.0, 3.0] }
    history = HistoryDay.entries(jobs, workers: 1, start_ms: NOW_MS - (2 * HOUR_MS), boot: 20)
    config = configuration("MIDDLE_MANAGEMENT_JOBS_PER_WORKER" => "1", "MIDDLE_MANAGEMENT_CHANGES_PER_HOUR" => "0")
    recommendation = MiddleManagement::Tuning.recommend(config, config.pools.first, now_ms: NOW_MS) { history }
    tunings["worker"] = tuned.new(outcome: recommendation.to_h, at: NOW_MS)
    page = get(app(credentials.merge("MIDDLE_MANAGEMENT_JOBS_PER_WORKER" => "1")), "/", basic("ops", "s3cret-pass-77")).body
    expect(page).to include("<h3>Tuned on the last day</h3>", "jobs rebuilt from 2026-03-02T00:00:00Z",
                            "jobs take 3.0 s; dynos boot in 20 s (2 boots)", "<td>Your settings</td>", "<td>Recommended</td>",
                            "<td>Peer: hirefire</td>", "<td>Peer: judoscale</td>", "<td>Peer: always-on</td>",
                            "recommended: ", "  MIDDLE_MANAGEMENT_SCALE_DOWN_DELAY=")
    json = JSON.parse(get(app(credentials), "/status.json", basic("ops", "s3cret-pass-77")).body)
    tuning = json["pools"].first["tuning"]
    expect(tuning).to include("state" => "ready", "jobs" => be_within(10).of(720), "boot_seconds" => 20.0)
    expect(tuning["recommended"]["cost"]).to be < tuning["yours"]["cost"]
  end

  it "draws a point per sample of the span, each matching its history row" do
    body = get(app(credentials), "/?span=day", basic("ops", "s3cret-pass-77")).body
    points = body.scan(/data-at="(\d+)" data-runnable="(\d+)" data-capped="(\w+)" data-workers="(\d*)"/)
    samples = rows["worker"].select { |row| row.kind == :sample }
    expect(points).to eq(samples.map { |row| [row.at.to_s, row.figures[:runnable].to_s, row.figures[:capped].to_s, row.figures[:quantity].to_s] })
    hour = get(app(credentials), "/?span=hour", basic("ops", "s3cret-pass-77")).body
    expect(hour.scan(/data-at="(\d+)"/).flatten).to eq([samples.last.at.to_s])
  end

  it "downsamples a week of looks to at most 1,000 points, each one a real row" do
    week = (0...10_080).map { |minute| entry(:sample, NOW_MS - (minute * 60_000), runnable: minute % 97, quantity: minute % 5) }.reverse
    series = MiddleManagement::Web::Series.new(week, from: NOW_MS - (7 * 24 * HOUR_MS), to: NOW_MS).to_h
    expect(series[:points].size).to be <= 1_000
    expect(series[:points].map { |point| point[:runnable] }.max).to eq(96)
    by_at = week.to_h { |row| [row.at, row.figures[:runnable]] }
    expect(series[:points]).to all(satisfy { |point| by_at[point[:at]] == point[:runnable] })
  end

  it "prices the dyno-seconds the history shows, today and over 7 days, beside MAX_WORKERS always on" do
    data = JSON.parse(get(app(credentials), "/status.json", basic("ops", "s3cret-pass-77")).body, symbolize_names: true)
    cost = data[:pools].first[:cost]
    # Today from midnight: 1 h at 2 dynos, then 1 h at 4 (confirmed at 01:00) = 6 dyno-hours at $0.50.
    expect(cost[:today]).to eq(hours: 2.0, dyno_hours: 6.0, cost: 3.0, max_workers_dyno_hours: 10.0, max_workers_cost: 5.0)
    # The week from the first sample, 23:00 yesterday: 2 h at 2, 1 h at 4.
    expect(cost[:week]).to eq(hours: 3.0, dyno_hours: 8.0, cost: 4.0, max_workers_dyno_hours: 15.0, max_workers_cost: 7.5)
    expect(cost[:price_per_dyno_hour]).to eq(0.5)
    pool = data[:pools].first
    expect(pool[:decisions].first).to include(from: 2, to: 4, reason: "<b>4 outstanding</b> & rising", busy: ["worker.2"])
    expect(pool[:now]).to include(known: 4, runnable: 12, capped: true, needed: 4)
    expect(pool[:now]).not_to have_key(:token)
    expect(data[:alerts]).to eq([])
  end

  it "checks its settings at boot, naming the variable, and never shows the password" do
    expect { configuration("MIDDLE_MANAGEMENT_DYNO_PRICE" => "cheap") }
      .to raise_error(MiddleManagement::ConfigurationError, /MIDDLE_MANAGEMENT_DYNO_PRICE must be a price/)
    expect { configuration("MIDDLE_MANAGEMENT_DYNO_PRICE" => "-1") }
      .to raise_error(MiddleManagement::ConfigurationError, /MIDDLE_MANAGEMENT_DYNO_PRICE must be more than 0/)
    expect { configuration("MIDDLE_MANAGEMENT_WEB_USERNAME" => "ops") }
      .to raise_error(MiddleManagement::ConfigurationError, /MIDDLE_MANAGEMENT_WEB_USERNAME is set but MIDDLE_MANAGEMENT_WEB_PASSWORD/)
    expect { configuration("MIDDLE_MANAGEMENT_WEB_PASSWORD" => "s3cret-pass-77") }
      .to raise_error(MiddleManagement::ConfigurationError) { |error| expect(error.message).not_to include("s3cret-pass-77") }
    expect(configuration(credentials).inspect).not_to include("s3cret-pass-77")
    expect(configuration.dyno_price).to eq(0.5)
    expect(MiddleManagement::Configuration.new.dyno_price).to be_within(1e-9).of(25.0 / 720)
    expect(MiddleManagement::Simulation::CLI::STANDARD_1X).to eq(MiddleManagement::Configuration::STANDARD_1X) if defined?(MiddleManagement::Simulation::CLI)
  end
end
