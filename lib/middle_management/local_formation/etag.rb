require "digest"

module MiddleManagement
  module LocalFormation
    # Heroku's caching: every answer carries an ETag naming its content, and
    # a GET whose If-None-Match names it again is answered 304 Not Modified,
    # without a body.
    module ETag
      module_function

      def of(body) = %("#{Digest::MD5.hexdigest(body)}")

      # If-None-Match compares weakly (RFC 9110): W/"x" matches "x"; "*" matches any.
      def match?(if_none_match, etag)
        return false if if_none_match.nil? || if_none_match.strip.empty?

        tags = if_none_match.split(",").map { |tag| tag.strip.delete_prefix("W/") }
        tags.include?("*") || tags.include?(etag.delete_prefix("W/"))
      end
    end
  end
end
