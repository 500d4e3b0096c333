require "json"

module MiddleManagement
  module Store
    # One line of a pool's scaling history. `kind`: :sample (what a
    # decision saw), :change (what it sent), :error (a Heroku call that
    # failed), :confirmed (Heroku's answer), :alert (one that went out),
    # :jobs (a worker process's jobs of a minute) or :boot (a dyno's first
    # heartbeat after a scale-up).
    # `at`: ms since the epoch on the store's clock; nil when written, for
    # the store to stamp.
    # `figures`: a Hash of plain values (HistoryEntry::FIGURES).
    HistoryEntry = Struct.new(:pool, :kind, :at, :figures, keyword_init: true) do
      # Without the keywords' cost, for reading a week of rows back.
      def self.of(pool, kind, at, figures)
        entry = allocate
        entry.pool = pool
        entry.kind = kind
        entry.at = at
        entry.figures = figures
        entry
      end
    end

    # How the stores keep history entries: as text, read back checked.
    module History
      KINDS = %i[sample change error confirmed alert jobs boot].freeze
      KIND_NAMES = KINDS.to_h { |kind| [kind.to_s, kind] }.freeze
      # What each kind carries. A sample: runnable (at least that many if
      # `capped`), running, the quantity Heroku confirmed, what the work
      # needs, whether it asks for more than MAX_WORKERS (`over_max`) and
      # the oldest runnable job's wait in seconds (nil where the library
      # cannot tell it cheaply), the seconds until the soonest job scheduled
      # ahead is due (nil: none), and the jobs per worker it sized by (nil
      # with rules). A change: from the confirmed
      # quantity to what was sent, why, the busy and draining dynos, and
      # the process that decided. An error: Heroku's message (scrubbed of
      # secrets before it reached Ruby) and status. An alert: its kind
      # (Alerts::KINDS) and words. Jobs: how many ended, their seconds in
      # all and the longest. A boot: the dyno and when the call that
      # raised the formation to it was decided (store ms).
      FIGURES = {
        sample: %i[runnable capped running quantity needed over_max oldest_wait next_run_in jobs_per_worker],
        change: %i[from to reason busy draining by],
        error: %i[message status],
        confirmed: %i[quantity],
        alert: %i[kind text],
        jobs: %i[done seconds longest],
        boot: %i[dyno raised_at]
      }.freeze

      module_function

      def encode(entry) = JSON.generate(entry.figures.slice(*FIGURES.fetch(entry.kind)))

      # An entry from what a store read back, or nil for one that no
      # version of the gem wrote (edited by hand, cut short): a page of
      # history skips it rather than failing.
      def decode(pool, kind, at, text)
        kind = KIND_NAMES[kind.to_s] or return nil
        figures = JSON.parse(text.to_s, symbolize_names: true)
        return nil unless figures.is_a?(Hash)

        HistoryEntry.new(pool: pool, kind: kind, at: Integer(at), figures: figures)
      rescue JSON::ParserError, ArgumentError, TypeError
        nil
      end

      # Rows of [kind, at, figures text], decoded as #decode does. One
      # JSON parse for them all: a page reads a week of rows, and one call
      # per row costs twice as much. A row that does not parse sends them
      # one by one, so it alone is skipped.
      def decode_rows(pool, rows)
        all = JSON.parse("[#{rows.map { |_kind, _at, text| text.to_s }.join(",")}]", symbolize_names: true)
        raise JSON::ParserError, "rows and figures differ" unless all.size == rows.size

        rows.each_with_index.filter_map do |(kind, at, _text), index|
          kind = KIND_NAMES[kind.to_s] or next
          figures = all[index]
          HistoryEntry.of(pool, kind, Integer(at), figures) if figures.is_a?(Hash)
        end
      rescue JSON::ParserError, ArgumentError, TypeError
        rows.filter_map { |kind, at, text| decode(pool, kind, at, text) }
      end

      # `kinds`: nil for every kind.
      def kinds(kinds) = kinds ? Array(kinds).map(&:to_sym) & KINDS : KINDS
    end
  end
end
