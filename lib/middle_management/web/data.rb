require "time"
require "middle_management/alerts"
require "middle_management/measures"
require "middle_management/store/history"
require "middle_management/web/cost"
require "middle_management/web/series"

module MiddleManagement
  class Web
    # What the page and status.json show, as plain values: per pool the
    # formation now, the chart's points for the span, the decisions and
    # errors, and the cost. Built from MiddleManagement.status and
    # MiddleManagement.history; nothing secret is read, so none is shown.
    class Data
      WEEK_MS = 7 * 86_400_000
      DECISIONS = 50 # newest first: enough to read, small enough to render
      ERRORS = 5
      # The status figures shown per pool (a list, so nothing new leaks in).
      POOL_FIGURES = %i[desired known runnable capped running busy_dynos draining calls errors last_result
                        last_call_at unconfirmed].freeze
      # The week's read leaves out the workers' minutes of jobs (a row per
      # process a minute): the agent keeps what they measure.
      WEEK_KINDS = (Store::History::KINDS - [:jobs]).freeze

      # Where the data comes from: this process's agent.
      class Live
        def configuration = MiddleManagement.configuration
        def status = MiddleManagement.status
        def history(pool, since_ms, kinds) = MiddleManagement.history(pool: pool, since: since_ms, kinds: kinds)
        def measured(pool) = MiddleManagement.agent&.measured(pool)
        def tuning(pool) = MiddleManagement.agent&.tuning(pool)
        def now_ms = (Time.now.to_f * 1000).round
      end

      def initialize(source, span:)
        @source = source
        @span = span
      end

      def to_h
        config = @source.configuration
        status = @source.status
        now = @source.now_ms
        pools = pool_names(config, status).map { |name| pool(name, config, status, now) }
        alerts = pools.flat_map { |pool| pool.delete(:alerts) }.sort_by { |alert| alert[:at] }
        { generated_at: iso(now), span: @span, dyno_price: config.dyno_price, enabled: status[:enabled],
          disabled_reason: status[:disabled_reason], dry_run: status[:dry_run] ? true : false, store: status[:store],
          rate_limit_remaining: status[:rate_limit_remaining], alerts: alerts, pools: pools }
      end

      private

      # The configured pools first, in order; any other the status knows.
      def pool_names(config, status)
        (config.pools.map(&:name) + Array(status[:pools]).map { |pool| pool[:name] }).uniq
      end

      def pool(name, config, status, now)
        settings = config.pools.find { |pool| pool.name == name }
        now_status = Array(status[:pools]).find { |pool| pool[:name] == name } || {}
        # One read of the week: the chart, the decisions and the cost all come from it.
        history = @source.history(name, now - WEEK_MS, WEEK_KINDS)
        samples = history.select { |entry| entry.kind == :sample }
        span_from = now - (SPANS.fetch(@span) * 1000)
        max = settings&.max
        { name: name, min_workers: settings&.min, max_workers: max, jobs_per_worker: settings&.jobs_per_worker,
          rules: settings&.rules, measured: (@source.measured(name) || Measures::Measured.new(jobs: 0, boots: 0)).to_h,
          now: now_figures(now_status, samples.last),
          chart: Series.new(samples.select { |entry| entry.at >= span_from }, from: span_from, to: now).to_h,
          decisions: recent(history, :change, DECISIONS) { |figures| figures.slice(*Store::History::FIGURES[:change]) },
          errors: recent(history, :error, ERRORS) { |figures| figures.slice(:message, :status) },
          cost: Cost.new(history, now: now, price: config.dyno_price, max_workers: max).to_h,
          tuning: tuning(@source.tuning(name)),
          alerts: Alerts.active(history, after_ms: config.alert_after * 1000).map { |alert| alert.merge(at: iso(alert[:at])) } }
      end

      def now_figures(status, last_sample)
        figures = status.slice(*POOL_FIGURES)
        figures[:last_call_at] = figures[:last_call_at].utc.iso8601 if figures[:last_call_at].respond_to?(:utc)
        figures[:needed] = last_sample&.figures&.dig(:needed)
        figures[:oldest_wait] = last_sample&.figures&.dig(:oldest_wait)
        figures[:jobs_per_worker] = last_sample&.figures&.dig(:jobs_per_worker)
        figures[:sampled_at] = last_sample && iso(last_sample.at)
        figures
      end

      # The last day replayed with other settings (Runtime::Tuner): what
      # to set, or why nothing is said; computing until the first is done.
      def tuning(tuned)
        return { state: "computing" } unless tuned

        outcome = tuned.outcome
        return { state: "none", at: iso(tuned.at), reason: outcome.message } if outcome.is_a?(Exception)

        { state: "ready", at: iso(tuned.at) }.merge(outcome)
      end

      def recent(history, kind, limit)
        history.select { |entry| entry.kind == kind }.last(limit).reverse.map do |entry|
          { at: iso(entry.at) }.merge(yield(entry.figures))
        end
      end

      def iso(ms) = Time.at(ms / 1000r).utc.iso8601(3)
    end
  end
end
