require "middle_management/store/history"

module MiddleManagement
  module Runtime
    # Writes the app's scaling history (Store::History) on the coordinator
    # thread: per decision, a sample of each pool and a change for each pool
    # it sends to; Heroku's errors and confirmed changes as they come. The
    # history is for people: a write that fails is logged once per kind of
    # failure and never raised, so it never stops a decision. Off with
    # MIDDLE_MANAGEMENT_HISTORY=0.
    class History
      PRUNE_EVERY = 300 # seconds between this process's prunes: one indexed DELETE, never one per write
      FAILED = "could not write the scaling history (decisions go on without it)".freeze

      def initialize(retention, log)
        @retention_ms = (retention * 1000).round
        @log = log
        @pruned_at = nil
        @sent = {} # pool name => [from, to] of the last change written
      end

      def on? = @retention_ms.positive?

      # After a settled decision. `pools`: per pool, [Configuration::Pool,
      # [counts, busy dynos], Bridge::Verdict]. Times are the lease's: the
      # store's clock. Only Ruby values are read: no native call. Returns
      # each pool's sample (for the alerts), written or not.
      def decided(store, lease, pools)
        at = lease.now
        samples = []
        entries = pools.flat_map do |pool, (counts, busy), verdict|
          quantity = lease.record(pool.name).quantity
          samples << entry(pool.name, :sample, at, runnable: counts.runnable, capped: counts.capped ? true : false,
                                                   running: counts.running, quantity: quantity,
                                                   needed: verdict.needed, over_max: verdict.over_max,
                                                   oldest_wait: counts.oldest_wait, next_run_in: counts.next_run_in,
                                                   jobs_per_worker: verdict.jobs_per_worker)
          next [samples.last] unless new_change?(pool.name, quantity, verdict.send_quantity)

          [samples.last, entry(pool.name, :change, at, from: quantity, to: verdict.send_quantity,
                                                       reason: verdict.reason, busy: busy.names,
                                                       draining: busy.draining(verdict.needed), by: lease.holder)]
        end
        write(store, entries, prune_before: prune_due? ? at - @retention_ms : nil) if on?
        samples
      rescue StandardError => e
        @log.failure(FAILED, e)
        samples || []
      end

      # An alert went out (Runtime::Alerter).
      def alerted(store, alert)
        write(store, [entry(alert.pool, :alert, nil, kind: alert.kind.to_s, text: alert.text)]) if on?
      end

      # A Heroku call failed (its payload holds no secret: the native
      # client scrubbed it), or Heroku confirmed a change. Stamped by the
      # store's clock as it is written.
      def event(store, event)
        return unless on?

        case event.notification
        when "error.middle_management"
          payload = event.payload
          figures = { message: payload[:message], status: payload[:status] }
          write(store, Array(payload[:pools]).map { |pool| entry(pool, :error, nil, **figures) })
        when "scale.middle_management"
          pool, quantity = event.confirmed
          write(store, [entry(pool, :confirmed, nil, quantity: quantity)]) if pool
        end
      rescue StandardError => e
        @log.failure(FAILED, e)
      end

      # `pool`'s entries since `since` (a Time, or ms since the epoch), oldest first.
      def read(store, pool:, since:, kinds: nil)
        since = (since.to_time.to_f * 1000).round if since.respond_to?(:to_time)
        store.history(pool: pool, since: Integer(since), kinds: kinds)
      end

      # Entries made elsewhere (Runtime::Measuring's), written as the others are.
      def write(store, entries, prune_before: nil)
        return if entries.empty?

        unavailable = store.history_unavailable
        return @log.once(:history_unavailable, unavailable) if unavailable

        store.record_history(entries, prune_before: prune_before)
        @pruned_at = monotonic if prune_before
      rescue StandardError => e
        @log.failure(FAILED, e)
      end

      private

      def entry(pool, kind, at, **figures) = Store::HistoryEntry.new(pool: pool, kind: kind, at: at, figures: figures)

      # A decision that comes before Heroku's answer sends the same change
      # again (the record still has the old quantity): the dispatcher makes
      # one call for both, and the history keeps one change.
      # A quantity Heroku already has is no change either: the dispatcher
      # sends nothing for it.
      def new_change?(pool, from, to)
        return false unless to
        return false if from == to
        return false if @sent[pool] == [from, to]

        @sent[pool] = [from, to]
        true
      end

      def prune_due? = @pruned_at.nil? || monotonic - @pruned_at >= PRUNE_EVERY

      def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
end
