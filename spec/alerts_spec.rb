require "middle_management/alerts"

# The alert rules alone: plain values in, no store, no clock.
RSpec.describe MiddleManagement::Alerts do
  MINUTE = 60_000
  AFTER = 15 * MINUTE

  def sample(at, over_max:, runnable: 40, capped: false, oldest_wait: nil)
    MiddleManagement::Store::HistoryEntry.new(pool: "worker", kind: :sample, at: at,
                                              figures: { runnable: runnable, capped: capped, over_max: over_max,
                                                         oldest_wait: oldest_wait })
  end

  def entry(kind, at, **figures) = MiddleManagement::Store::HistoryEntry.new(pool: "worker", kind: kind, at: at, figures: figures)

  # A look a minute from `from` to `to` (minutes), each beyond reach or not.
  def looks(from, to, **options) = (from..to).map { |minute| sample(minute * MINUTE, **options) }

  describe ".backlog" do
    def backlog(samples) = described_class.backlog("worker", samples, after_ms: AFTER, max: 10)

    it "holds once every look for ALERT_AFTER found the work beyond MAX_WORKERS" do
      expect(backlog(looks(0, 14, over_max: true))).to be_nil
      alert = backlog(looks(0, 15, over_max: true))
      expect(alert.to_h).to include(pool: "worker", kind: :backlog)
      expect(alert.text).to start_with("worker: 40 jobs waiting need more than MAX_WORKERS (10) for 15 min")
    end

    it "starts again after a look within reach" do
      samples = looks(0, 10, over_max: true) + looks(11, 11, over_max: false) + looks(12, 26, over_max: true)
      expect(backlog(samples)).to be_nil
      expect(backlog(samples + looks(27, 27, over_max: true))).not_to be_nil
      expect(described_class.backlog_since(samples)).to eq(12 * MINUTE)
    end

    it "does not hold for a backlog that shrinks, however long it lasts" do
      shrinking = (0..20).map { |minute| sample(minute * MINUTE, over_max: true, runnable: 500 - (minute * 10)) }
      expect(backlog(shrinking)).to be_nil
      steady = (0..20).map { |minute| sample(minute * MINUTE, over_max: true, runnable: 500, capped: true) }
      expect(backlog(steady).text).to start_with("worker: at least 500 jobs waiting")
    end

    it "needs looks that span ALERT_AFTER: a stretch with no look proves nothing" do
      expect(backlog([sample(20 * MINUTE, over_max: true)])).to be_nil
      expect(backlog([sample(20 * MINUTE, over_max: false), sample(40 * MINUTE, over_max: true)])).to be_nil
      expect(backlog([])).to be_nil
      expect(described_class.backlog_since([])).to be_nil
    end
  end

  describe ".waiting" do
    it "holds when the oldest runnable job has waited longer than ALERT_AFTER, where the library tells it" do
      expect(described_class.waiting("worker", sample(0, over_max: false, oldest_wait: 900.0), after_ms: AFTER)).to be_nil
      alert = described_class.waiting("worker", sample(0, over_max: false, oldest_wait: 1000.0), after_ms: AFTER)
      expect(alert.text).to eq("worker: the oldest runnable job has waited 17 min (MIDDLE_MANAGEMENT_ALERT_AFTER is 15 min)")
      expect(described_class.waiting("worker", sample(0, over_max: true), after_ms: AFTER)).to be_nil
    end
  end

  describe ".refused" do
    it "holds for a refused token or app, not for other failures" do
      expect(described_class.refused("worker", 401, "Invalid credentials provided.").text)
        .to eq("Heroku refused the API token (MIDDLE_MANAGEMENT_HEROKU_API_KEY), so worker cannot be scaled: " \
               "Invalid credentials provided.")
      expect(described_class.refused("worker", 403, "forbidden").text).to start_with("Heroku refused access to the app")
      expect(described_class.refused("worker", 404, "Couldn't find that app.")).not_to be_nil
      [nil, 422, 429, 500, 503].each { |status| expect(described_class.refused("worker", status, "x")).to be_nil }
    end
  end

  it "lets one alert of a kind go out an hour" do
    expect(described_class.due?(nil, 0)).to be(true)
    expect(described_class.due?(0, 59 * MINUTE)).to be(false)
    expect(described_class.due?(0, 60 * MINUTE)).to be(true)
  end

  describe ".active" do
    def active(history) = described_class.active(history, after_ms: AFTER).map { |alert| alert[:kind] }

    it "shows each kind's newest alert until an entry since clears it" do
      backlog = entry(:alert, 10, kind: "backlog", text: "stuck")
      expect(described_class.active([backlog], after_ms: AFTER))
        .to eq([{ pool: "worker", kind: "backlog", text: "stuck", at: 10 }])
      expect(active([backlog, sample(20, over_max: true)])).to eq(["backlog"])
      expect(active([backlog, sample(20, over_max: false)])).to eq([])
      expect(active([sample(5, over_max: false), backlog])).to eq(["backlog"])

      waiting = entry(:alert, 10, kind: "waiting", text: "old")
      expect(active([waiting, sample(20, over_max: false, oldest_wait: 1000.0)])).to eq(["waiting"])
      expect(active([waiting, sample(20, over_max: false, oldest_wait: 3.0)])).to eq([])
      expect(active([waiting, sample(20, over_max: false)])).to eq([])

      refused = entry(:alert, 10, kind: "refused", text: "401")
      expect(active([refused, entry(:error, 20, status: 401), sample(30, over_max: false)])).to eq(["refused"])
      expect(active([refused, entry(:confirmed, 20, quantity: 1)])).to eq([])

      expect(active([backlog, refused, sample(20, over_max: false)])).to eq(["refused"])
      expect(active([entry(:alert, 10, kind: "unknown", text: "?")])).to eq([])
    end
  end

  it "says spans as people do" do
    expect([45_000, 119_000, 16 * MINUTE, 150 * MINUTE].map { |ms| described_class.span(ms) })
      .to eq(["45 s", "119 s", "16 min", "2.5 h"])
  end
end
