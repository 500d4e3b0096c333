module MiddleManagement
  # When the scaling needs a person, as rules: which alert holds, its words,
  # how often it may go out, and whether it has cleared. Free of I/O and
  # clocks (times are the store's, in ms, passed in), so every case is
  # specified fast (spec/alerts_spec.rb). Runtime::Alerter applies them on
  # the coordinator thread; the page shows what `active` finds.
  #
  # - :backlog: every look for ALERT_AFTER found the work asking for more
  #   than MAX_WORKERS, and the backlog is no smaller than when that began.
  # - :waiting: the oldest runnable job has waited longer than ALERT_AFTER
  #   (where the job library tells it cheaply: Delayed Job, Sidekiq).
  # - :refused: Heroku refused the token (401) or the app (403, 404).
  module Alerts
    Alert = Struct.new(:pool, :kind, :text, keyword_init: true)

    KINDS = %i[backlog waiting refused].freeze
    EVERY_MS = 3_600_000 # at most one alert of a kind for a pool an hour
    REFUSALS = [401, 403, 404].freeze

    module_function

    # `samples`: the pool's samples (Store::HistoryEntry), oldest first,
    # the newest being the look just made, reaching back past `after_ms`
    # where the history has them. The streak is what the looks saw: a
    # stretch with no look in it proves nothing.
    def backlog(pool, samples, after_ms:, max:)
      streak = samples.reverse.take_while { |sample| sample.figures[:over_max] }.reverse
      first, last = streak.first, streak.last
      return nil unless first && last.at - first.at >= after_ms
      return nil if last.figures[:runnable].to_i < first.figures[:runnable].to_i

      Alert.new(pool: pool, kind: :backlog,
                text: "#{pool}: #{jobs(last.figures)} waiting need more than MAX_WORKERS (#{max}) for " \
                      "#{span(last.at - first.at)}, and the backlog has not shrunk: raise " \
                      "MIDDLE_MANAGEMENT_MAX_WORKERS or look at why the jobs are slow")
    end

    # When the backlog's streak began, or nil: the earliest the backlog
    # alert could hold, so a process need not look before then.
    def backlog_since(samples)
      streak = samples.reverse.take_while { |sample| sample.figures[:over_max] }
      streak.last&.at
    end

    def waiting(pool, sample, after_ms:)
      wait = sample.figures[:oldest_wait]
      return nil unless wait && wait * 1000 > after_ms

      Alert.new(pool: pool, kind: :waiting,
                text: "#{pool}: the oldest runnable job has waited #{span(wait * 1000)} " \
                      "(MIDDLE_MANAGEMENT_ALERT_AFTER is #{span(after_ms)})")
    end

    # From a failed call's notification payload: its status and Heroku's
    # words (scrubbed of the token by the native client).
    def refused(pool, status, message)
      return nil unless REFUSALS.include?(status)

      what = status == 401 ? "the API token (MIDDLE_MANAGEMENT_HEROKU_API_KEY)" : "access to the app"
      Alert.new(pool: pool, kind: :refused,
                text: "Heroku refused #{what}, so #{pool} cannot be scaled: #{message}")
    end

    # An alert of this kind may go out: none went in the last hour.
    def due?(last_at, now) = last_at.nil? || now - last_at >= EVERY_MS

    # The alerts in `history` (one pool's entries, oldest first) that have
    # not cleared: the newest of each kind, unless an entry since says the
    # backlog is within reach, the oldest job waits less, or Heroku has
    # taken a call. As the page and status.json show them.
    def active(history, after_ms:)
      latest = {}
      history.each do |entry|
        if entry.kind == :alert
          kind = entry.figures[:kind].to_s.to_sym
          latest[kind] = entry if KINDS.include?(kind)
        elsif latest.any?
          latest.delete_if { |kind, _alert| clears?(kind, entry, after_ms) }
        end
      end
      latest.values.sort_by(&:at).map do |entry|
        { pool: entry.pool, kind: entry.figures[:kind].to_s, text: entry.figures[:text].to_s, at: entry.at }
      end
    end

    def clears?(kind, entry, after_ms)
      case kind
      when :backlog then entry.kind == :sample && !entry.figures[:over_max]
      when :waiting then entry.kind == :sample && (entry.figures[:oldest_wait] || 0) * 1000 <= after_ms
      when :refused then entry.kind == :confirmed
      end
    end

    def jobs(figures)
      runnable = figures[:runnable].to_i
      "#{figures[:capped] ? "at least " : ""}#{runnable} #{runnable == 1 ? "job" : "jobs"}"
    end

    # "45 s", "16 min", "2.5 h" (the page says its cost windows so too)
    def span(ms)
      seconds = ms / 1000.0
      if seconds < 120 then "#{seconds.round} s"
      elsif seconds < 7200 then "#{(seconds / 60).round} min"
      else "#{(seconds / 3600).round(1)} h"
      end
    end
  end
end
