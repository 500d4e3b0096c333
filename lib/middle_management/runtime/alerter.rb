require "middle_management/alerts"
require "middle_management/store/history"

module MiddleManagement
  module Runtime
    # Applies the Alerts rules on the coordinator thread, after each
    # decision and each failed call. An alert is a warn line in the log, an
    # `alert.middle_management` notification, a POST to
    # MIDDLE_MANAGEMENT_ALERT_WEBHOOK_URL (made by the dispatcher's thread:
    # nothing here waits for it) and an :alert entry in the scaling history.
    #
    # The history is what makes it one voice for the app: the backlog's
    # streak is read from the samples every process writes, and an alert
    # goes out only if the history holds none of its kind for the pool in
    # the last hour (decisions take turns under the lease, so the next one
    # sees it). Each process remembers when it next needs to look, so a
    # stuck backlog costs a read now and then, not one per decision. With
    # no history (MIDDLE_MANAGEMENT_HISTORY=0, or its table missing), the
    # process's own samples and alerts stand in. Like the history, alerts
    # never stop a decision: a failure is logged and passed over.
    class Alerter
      FAILED = "could not check for alerts (decisions go on without them)".freeze
      KEEP = 2_000 # samples a pool keeps in memory when the history cannot be read

      # How many alerts this process has raised.
      attr_reader :raised

      def initialize(after:, max_workers:, history:, dispatcher:, log:)
        @after_ms = (after * 1000).round
        @max = max_workers # pool name => MAX_WORKERS
        @history = history
        @dispatcher = dispatcher
        @log = log
        @next_look = {} # [pool, kind] => store ms before which this process does not read for it
        @own = Hash.new { |hash, pool| hash[pool] = [] } # pool => this process's samples
        @sent = {} # [pool, kind] => store ms this process sent it (no history to say so)
        @raised = 0
      end

      # After a settled decision: `samples`, the Store::HistoryEntry written
      # for each pool (or that would have been, with history off).
      def decided(store, now, samples)
        samples.each do |sample|
          remember(sample)
          check(store, now, sample.pool, :waiting) { Alerts.waiting(sample.pool, sample, after_ms: @after_ms) }
          if sample.figures[:over_max]
            check(store, now, sample.pool, :backlog) { backlog(store, now, sample.pool) }
          else
            @next_look.delete([sample.pool, :backlog]) # a new streak starts from the next sample
          end
        end
      rescue StandardError => e
        @log.failure(FAILED, e)
      end

      # A failed call's notification payload (the token already scrubbed).
      def failed(store, payload)
        pool = Array(payload[:pools]).first or return
        return unless Alerts::REFUSALS.include?(payload[:status])

        check(store, store.now_ms, pool, :refused) { Alerts.refused(pool, payload[:status], payload[:error]) }
      rescue StandardError => e
        @log.failure(FAILED, e)
      end

      private

      # The block says whether the alert holds now; it is asked only once
      # this process's memory allows, and the alert goes out only if none
      # of its kind went for the pool within the hour.
      def check(store, now, pool, kind)
        key = [pool, kind]
        return if @next_look[key] && now < @next_look[key]

        alert = yield or return
        last = last_sent(store, pool, kind, now)
        return @next_look[key] = last + Alerts::EVERY_MS unless Alerts.due?(last, now)

        raise_alert(store, alert)
        @sent[key] = now
        @next_look[key] = now + Alerts::EVERY_MS
      end

      def backlog(store, now, pool)
        samples = samples(store, pool, now - (2 * @after_ms))
        alert = Alerts.backlog(pool, samples, after_ms: @after_ms, max: @max.fetch(pool))
        since = Alerts.backlog_since(samples)
        @next_look[[pool, :backlog]] = since + @after_ms if !alert && since
        alert
      end

      def raise_alert(store, alert)
        @log.warn("alert: #{alert.text}")
        @dispatcher.alert(alert.text)
        if defined?(::ActiveSupport::Notifications)
          ::ActiveSupport::Notifications.instrument("alert.middle_management", alert.to_h)
        end
        @history.alerted(store, alert)
        @raised += 1
      end

      def last_sent(store, pool, kind, now)
        return @sent[[pool, kind]] unless readable?(store)

        since = now - Alerts::EVERY_MS
        @history.read(store, pool: pool, since: since, kinds: [:alert])
                .select { |entry| entry.figures[:kind].to_s == kind.to_s }.map(&:at).max
      end

      def samples(store, pool, since)
        return @own[pool].select { |sample| sample.at >= since } unless readable?(store)

        @history.read(store, pool: pool, since: since, kinds: [:sample])
      end

      def readable?(store) = @history.on? && store.history_unavailable.nil?

      def remember(sample)
        own = @own[sample.pool]
        own << sample
        own.shift while own.size > KEEP || (own.first && sample.at - own.first.at > 2 * @after_ms)
      end
    end
  end
end
